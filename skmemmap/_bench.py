"""``python -m skmemmap bench``: plain scikit-learn and skmemmap, side by side.

Every measurement runs in a fresh Python subprocess (``python -m
skmemmap._bench SPEC``) so that no allocator state, cached import or joblib
worker of one run leaks into the next. Inside it:

1. setup (timed, not counted in the peak): the dataset, a ``.npy`` file the
   parent wrote once, is made ready the way each side uses it, so that both
   start with X resident. Plain: read into memory with ``np.load``.
   skmemmap: mapped with ``skmemmap.load`` in the layout
   :func:`~skmemmap.layout_for` gives the estimator (converted once on disk
   where needed, as the user guide recommends), then read once, so its pages
   are in the page cache and mapped. What X itself occupies is reported apart
   as ``x_resident_bytes`` (float32 X: half of plain's).
2. the estimator is fit once on a tiny sample in the parent and, with
   ``n_jobs > 1``, in each worker process, started before the baseline: lazy
   imports, BLAS/OpenMP buffers and the workers' interpreters (reported apart
   as ``workers_bytes``, the same for both sides) are not counted, so the
   table compares what the data costs.
3. the workload runs under a :class:`~skmemmap.MemoryMonitor` that sees the
   process and all its workers. Memory is the process tree's PSS with
   ``/dev/shm`` swapped in for its mapped part (joblib's automatic memmapping
   puts the plain X there: RAM in nobody's RSS until mapped), so every byte
   of RAM the run adds is counted once. Pages of skmemmap's files that the
   run reads count too: the comparison is conservative for skmemmap.

The subprocess prints one JSON line; the parent prints the table.
"""

import contextlib
import json
import os
import signal
import sys
import tempfile
import time

import numpy as np

from skmemmap._utils import run_module

__all__ = ["main_bench", "run_bench"]

WORKLOADS = {
    "rf": "GridSearchCV(RandomForestClassifier), 2 candidates",
    "logreg": "GridSearchCV(LogisticRegression), 2 candidates",
    "cvp": "cross_val_predict(ExtraTreesClassifier)",
}
# Default: 80 MB float64 X, large enough that copies dwarf the interpreters'
# noise; the whole bench (24 runs) takes a few minutes on 2 cores. --quick:
# 16 MB and the smallest models, about 2 minutes.
DEFAULT_SHAPE = (50_000, 200)
QUICK_SHAPE = (20_000, 100)
# Sampling every 20 ms catches copies that live for a fraction of a fit.
_INTERVAL = 0.02


def _make_estimator(workload, quick):
    from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    trees = 5 if quick else 10
    if workload == "rf":
        est = RandomForestClassifier(n_estimators=trees, max_depth=8, random_state=0)
        return est, {"max_features": ["sqrt", 0.2]}
    if workload == "logreg":
        return LogisticRegression(max_iter=30 if quick else 100), {"C": [0.1, 1.0]}
    if workload == "cvp":
        return ExtraTreesClassifier(
            n_estimators=trees, max_depth=8, random_state=0
        ), None
    raise ValueError(f"Unknown workload {workload!r}; choose from {sorted(WORKLOADS)}.")


def _dry_run(estimator, n_features, seconds=0.0):
    """Fit and predict ``estimator`` once on a tiny random sample.

    Run before the baseline, in the parent and in every worker, so that lazy
    imports and one-time buffers (BLAS and OpenMP thread pools) are not
    counted as the workload's memory, on either side.
    """
    from sklearn.base import clone

    rng = np.random.RandomState(0)
    X = rng.standard_normal((200, n_features))
    y = np.arange(200) % 2
    model = clone(estimator).fit(X, y)
    model.predict(X)
    time.sleep(seconds)  # hold this worker so that each task gets its own
    return os.getpid()


def _warm_workers(estimator, n_features, n_jobs):
    """Start loky's reusable workers (the ones scikit-learn uses next), dry-run
    the estimator in each; return the RAM they added."""
    from joblib import Parallel, delayed

    import skmemmap

    monitor = skmemmap.MemoryMonitor(interval=0.05)
    with monitor:
        Parallel(n_jobs=n_jobs)(
            delayed(_dry_run)(estimator, n_features, 0.3) for _ in range(n_jobs)
        )
    series = _ram_series(monitor)
    return series[-1][1] - series[0][1]


def _tree_ram():
    """RAM of this process tree now, as _ram_series counts it."""
    import skmemmap

    monitor = skmemmap.MemoryMonitor(interval=60).start().stop()
    return _ram_series(monitor)[-1][1]


def _ram_series(monitor):
    """Per-sample RAM of the tree: PSS without its /dev/shm part, plus /dev/shm."""
    series = []
    for s in monitor.samples_:
        main = s.pss if s.pss is not None else s.rss
        value = main - (s.pss_shmem or 0) + (s.shm_used or 0)
        series.append((s.time, value, s.anon))
    return series


def run_one(spec):
    """Run one measurement (in this process); return a JSON-able dict."""
    import warnings

    from sklearn.base import clone
    from sklearn.model_selection import GridSearchCV, KFold, cross_val_predict

    import skmemmap

    estimator, grid = _make_estimator(spec["workload"], spec["quick"])
    before_load = _tree_ram()
    t0 = time.perf_counter()
    y = np.load(spec["y_path"])
    if spec["mode"] == "plain":
        X = np.load(spec["x_path"])
        cv = KFold(spec["folds"])
    else:
        dtype, order = skmemmap.layout_for(estimator).resolve(
            np.empty((1, 1), dtype=np.float64)
        )
        X = skmemmap.load(
            spec["x_path"], dtype=dtype, order=order, folder=spec.get("folder")
        )
        # Both sides start with X resident: plain's X is an in-memory array,
        # skmemmap's X the file's pages, read once here (page cache, mapped).
        X.sum()
        cv = skmemmap.ContiguousKFold(spec["folds"])
        estimator = skmemmap.MemmapEstimator(estimator)
        if grid is not None:
            grid = {f"estimator__{k}": v for k, v in grid.items()}
    setup_seconds = time.perf_counter() - t0
    x_resident_bytes = _tree_ram() - before_load
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _dry_run(estimator, X.shape[1])
        workers_bytes = (
            _warm_workers(estimator, X.shape[1], spec["n_jobs"])
            if spec["n_jobs"] > 1
            else 0
        )

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the bench reports numbers, not advice
        monitor = skmemmap.MemoryMonitor(interval=_INTERVAL)
        with monitor:
            t1 = time.perf_counter()
            if grid is None:
                pred = cross_val_predict(
                    clone(estimator), X, y, cv=cv, n_jobs=spec["n_jobs"]
                )
                score = float(np.mean(pred == y))
            else:
                search = GridSearchCV(
                    clone(estimator), grid, cv=cv, n_jobs=spec["n_jobs"]
                ).fit(X, y)
                score = float(search.best_score_)
            seconds = time.perf_counter() - t1
    series = _ram_series(monitor)
    base_ram, base_anon = series[0][1], series[0][2] or 0
    step = max(1, len(series) // 400)  # keep the JSON small
    return {
        **{k: spec[k] for k in ("workload", "mode", "n_jobs", "folds")},
        "metric": monitor.metric,
        "peak_bytes": max(v for _, v, _ in series) - base_ram,
        "peak_anon_bytes": max((a or 0) for _, _, a in series) - base_anon,
        "seconds": seconds,
        "setup_seconds": setup_seconds,
        "workers_bytes": workers_bytes,
        "x_resident_bytes": x_resident_bytes,
        "score": score,
        "series": [[round(t, 3), v - base_ram] for t, v, _ in series[::step]],
    }


def _subprocess_run(spec, timeout):
    proc = run_module(
        "skmemmap._bench",
        json.dumps(spec),
        timeout=timeout,
        what=f"Benchmark run {spec['workload']} {spec['mode']} "
        f"n_jobs={spec['n_jobs']} folds={spec['folds']}",
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _write_dataset(folder, n_samples, n_features, seed=0):
    """Write X (float64 C) and y block by block; return their paths."""
    from skmemmap._npy import header_bytes

    rng = np.random.RandomState(seed)
    x_path = os.path.join(folder, "X.npy")
    w = rng.standard_normal(n_features)
    ys = []
    with open(x_path, "wb") as f:
        f.write(header_bytes((n_samples, n_features), np.float64, "C"))
        step = max(1, 2**25 // (8 * n_features))
        for start in range(0, n_samples, step):
            block = rng.standard_normal((min(step, n_samples - start), n_features))
            ys.append(
                (block @ w + rng.standard_normal(len(block)) > 0).astype(np.int64)
            )
            f.write(block.data)
    y_path = os.path.join(folder, "y.npy")
    np.save(y_path, np.concatenate(ys))
    return x_path, y_path


def run_bench(
    *,
    n_samples=None,
    n_features=None,
    quick=False,
    workloads=None,
    n_jobs=(1, 2),
    folds=(2, 5),
    folder=None,
    progress=print,
    timeout=1800,
):
    """Run every (workload, n_jobs, folds) with plain scikit-learn and skmemmap.

    Returns a dict with ``x_nbytes``, ``shape`` and ``runs`` (one dict each).
    """
    shape = QUICK_SHAPE if quick else DEFAULT_SHAPE
    n_samples, n_features = n_samples or shape[0], n_features or shape[1]
    workloads = list(workloads or WORKLOADS)
    for w in workloads:
        if w not in WORKLOADS:
            raise ValueError(
                f"Unknown workload {w!r}; choose from {sorted(WORKLOADS)}."
            )
    combos = [
        (w, j, k, m)
        for w in workloads
        for j in n_jobs
        for k in folds
        for m in ("plain", "skmemmap")
    ]
    runs = []
    with tempfile.TemporaryDirectory(prefix="skmemmap-bench-", dir=folder) as tmp:
        t0 = time.perf_counter()
        x_path, y_path = _write_dataset(tmp, n_samples, n_features)
        x_nbytes = n_samples * n_features * 8
        progress(
            f"Dataset: X {n_samples} x {n_features} float64 "
            f"({x_nbytes / 2**20:.0f} MB), written in "
            f"{time.perf_counter() - t0:.1f} s; {len(combos)} runs, each in a "
            f"fresh process"
        )
        for i, (w, j, k, m) in enumerate(combos, 1):
            spec = {
                "workload": w,
                "mode": m,
                "n_jobs": j,
                "folds": k,
                "x_path": x_path,
                "y_path": y_path,
                "quick": quick,
                "folder": tmp,
            }
            result = _subprocess_run(spec, timeout)
            runs.append(result)
            progress(
                f"[{i:>2}/{len(combos)}] {w:<6} n_jobs={j} folds={k} "
                f"{m:<8} peak {result['peak_bytes'] / 2**20:8.0f} MB "
                f"({result['peak_bytes'] / x_nbytes:4.1f}x X)  "
                f"{result['seconds']:6.1f} s"
            )
    return {
        "shape": [n_samples, n_features],
        "x_nbytes": x_nbytes,
        "quick": quick,
        "runs": runs,
    }


def format_table(results):
    """The side-by-side table: one row per (workload, n_jobs, folds)."""
    x_nbytes = results["x_nbytes"]
    by_key = {}
    for r in results["runs"]:
        by_key.setdefault((r["workload"], r["n_jobs"], r["folds"]), {})[r["mode"]] = r

    def side(r):
        anon = r.get("peak_anon_bytes")
        anon_text = "-" if anon is None else f"{anon / 2**20:.0f}"
        return (
            f"{r['peak_bytes'] / 2**20:>6.0f} {r['peak_bytes'] / x_nbytes:>5.1f} "
            f"{anon_text:>6} {r['seconds']:>6.1f}"
        )

    head = (
        f"{'':<22}| {'plain':^26} | {'skmemmap':^26} | {'plain / skmemmap':^17}\n"
        f"{'workload':<8} {'n_jobs':>6} {'folds':>5} | {'MB':>6} {'(xX)':>5} "
        f"{'anon':>6} {'s':>6} | {'MB':>6} {'(xX)':>5} {'anon':>6} {'s':>6} | "
        f"{'memory':>7} {'time':>7}"
    )
    width = len(head.splitlines()[1])
    lines = [head, "-" * width]
    for (w, j, k), pair in by_key.items():
        p, s = pair.get("plain"), pair.get("skmemmap")
        if p is None or s is None:
            continue
        mem_ratio = p["peak_bytes"] / max(s["peak_bytes"], 1)
        time_ratio = p["seconds"] / max(s["seconds"], 1e-9)
        lines.append(
            f"{w:<8} {j:>6} {k:>5} | {side(p)} | {side(s)} | "
            f"{mem_ratio:>7.1f} {time_ratio:>7.2f}"
        )
    metric = results["runs"][0]["metric"].upper() if results["runs"] else "PSS"
    lines.append(
        f"MB: peak memory above the start, summed over the process tree ({metric}, "
        f"/dev/shm counted once), in MB and as copies of X. anon: the peak of its "
        f"anonymous part (copies; what skmemmap adds is mostly file pages, which "
        f"the kernel can reclaim). Time in seconds."
    )
    return "\n".join(lines)


def plot_results(results, path):
    """Memory over time (RF, n_jobs=2, 2 folds) and time vs peak memory."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError(
            "--plot needs matplotlib: pip install matplotlib (or skmemmap[bench])"
        ) from exc
    runs = results["runs"]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
    pick = [
        r
        for r in runs
        if r["n_jobs"] == max(r2["n_jobs"] for r2 in runs)
        and r["folds"] == min(r2["folds"] for r2 in runs)
    ]
    first = pick[0]["workload"] if pick else None
    for r in pick:
        if r["workload"] != first:
            continue
        t, v = zip(*r["series"], strict=True) if r["series"] else ((), ())
        ax1.plot(t, np.asarray(v) / 2**20, label=r["mode"])
    if pick:
        ax1.set_title(f"{first}: n_jobs={pick[0]['n_jobs']}, folds={pick[0]['folds']}")
    ax1.set_xlabel("seconds")
    ax1.set_ylabel("memory above start (MB)")
    ax1.legend()
    for mode, marker in (("plain", "o"), ("skmemmap", "s")):
        sel = [r for r in runs if r["mode"] == mode]
        ax2.scatter(
            [r["seconds"] for r in sel],
            [r["peak_bytes"] / 2**20 for r in sel],
            marker=marker,
            label=mode,
        )
        for r in sel:
            ax2.annotate(
                f"{r['workload']} j{r['n_jobs']} k{r['folds']}",
                (r["seconds"], r["peak_bytes"] / 2**20),
                fontsize=6,
            )
    ax2.set_xlabel("wall time (s)")
    ax2.set_ylabel("peak memory above start (MB)")
    ax2.set_title("time vs peak memory, every run")
    ax2.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def add_arguments(parser):
    parser.add_argument(
        "--quick", action="store_true", help="small data and models (about 1-2 minutes)"
    )
    parser.add_argument("--n-samples", type=int, default=None)
    parser.add_argument("--n-features", type=int, default=None)
    parser.add_argument(
        "--workloads",
        default=",".join(WORKLOADS),
        help=f"comma-separated, from {','.join(WORKLOADS)}",
    )
    parser.add_argument("--n-jobs", default="1,2", help="comma-separated n_jobs values")
    parser.add_argument("--folds", default="2,5", help="comma-separated fold counts")
    parser.add_argument("--plot", metavar="FILE.png", default=None)
    parser.add_argument("--json", metavar="FILE", default=None)
    parser.add_argument(
        "--folder", default=None, help="where the dataset and skmemmap's files go"
    )


def _int_list(text, name):
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise SystemExit(
            f"--{name} takes comma-separated integers, got {text!r}"
        ) from None
    if not values or min(values) < 1:
        raise SystemExit(f"--{name} takes positive integers, got {text!r}")
    return values


def exit_on_sigterm():
    """Make SIGTERM (``kill``, a CI timeout) exit normally, so that the
    temporary dataset folder is removed; Python's default would skip that."""
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


def main_bench(args):
    def progress(line):
        print(line, file=sys.stderr, flush=True)

    exit_on_sigterm()
    results = run_bench(
        n_samples=args.n_samples,
        n_features=args.n_features,
        quick=args.quick,
        workloads=[w.strip() for w in args.workloads.split(",") if w.strip()],
        n_jobs=_int_list(args.n_jobs, "n-jobs"),
        folds=_int_list(args.folds, "folds"),
        folder=args.folder,
        progress=progress,
    )
    print(format_table(results))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
        print(f"Results written to {args.json}")
    if args.plot:
        plot_results(results, args.plot)
        print(f"Figure written to {args.plot}")
    return 0


if __name__ == "__main__":
    with contextlib.redirect_stdout(sys.stderr):
        result = run_one(json.loads(sys.argv[1]))
    print(json.dumps(result))
