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
   process and all its workers. Two memory figures: *committed*, the
   anonymous memory of the tree plus ``/dev/shm`` (joblib's automatic
   memmapping puts the plain X there: RAM in nobody's RSS until mapped), the
   RAM only swap could free; and PSS with ``/dev/shm`` swapped in for its
   mapped part, so every byte of RAM the run maps is counted once. Pages of
   skmemmap's files that the run reads count in PSS: conservative for
   skmemmap. *disk* is what skmemmap's sibling and gather files hold at the
   end (:func:`skmemmap._disk.disk_usage`).

:func:`run_bench` also runs every pair at ``baseline_rows`` rows and gives
each full run its X-proportional figures (full minus small, over X's size).

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

from skmemmap._utils import format_mb, run_module

__all__ = [
    "main_bench",
    "plot_kfold",
    "plot_results",
    "plot_time_memory",
    "run_bench",
]

WORKLOADS = {
    "rf": "GridSearchCV(RandomForestClassifier), 2 candidates",
    "logreg": "GridSearchCV(LogisticRegression), 2 candidates",
    "cvp": "cross_val_predict(ExtraTreesClassifier)",
    # Issue 13's search: 6 trees of depth 6, whatever --quick says.
    "rf6": "GridSearchCV(RandomForestClassifier(6 trees, depth 6)), 2 candidates",
}
DEFAULT_WORKLOADS = ("rf", "logreg", "cvp")
# Default: 80 MB float64 X, large enough that copies dwarf the interpreters'
# noise; every workload at n_jobs 1 and 2 and 2, 5 and 10 folds (36 runs,
# each also at BASELINE_ROWS rows), a quarter of an hour on 2 cores.
DEFAULT_SHAPE = (50_000, 200)
DEFAULT_N_JOBS = (1, 2)
DEFAULT_FOLDS = (2, 5, 10)
# --quick: the headline's search (README, doc/_static/headline.json) at the
# headline's n_jobs=2 and 2 and 5 folds, on 15 MB: 8 fresh processes, about
# a minute on 2 idle cores (each process spends ~5 s starting itself and
# its two workers, whatever X is; a larger X would add its fits on top).
QUICK_WORKLOADS = ("rf6",)
QUICK_N_JOBS = (2,)
QUICK_FOLDS = (2, 5)
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
    if workload == "rf6":
        est = RandomForestClassifier(n_estimators=6, max_depth=6, random_state=0)
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
    """Per-sample ``(time, ram, committed, anon)`` of the process tree.

    ram: PSS without its /dev/shm part, plus /dev/shm (every page of RAM
    once; file pages mapped by several processes shared among them).
    committed: anonymous memory of the tree plus /dev/shm, the RAM that only
    swap could reclaim (file pages, which the kernel can drop, left out).
    """
    series = []
    for s in monitor.samples_:
        main = s.pss if s.pss is not None else s.rss
        shm = s.shm_used or 0
        value = main - (s.pss_shmem or 0) + shm
        series.append((s.time, value, (s.anon or 0) + shm, s.anon))
    return series


def _disk(X, spec, dtype, order):
    """Disk skmemmap's files hold after the run, and the k-fold bound."""
    import skmemmap
    from skmemmap._disk import disk_usage, kfold_disk_bound

    source = skmemmap.load(spec["x_path"])  # mapped, not read
    return disk_usage(X), kfold_disk_bound(source, spec["folds"], dtype, order)


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
    base_ram, base_committed = series[0][1], series[0][2]
    base_anon = series[0][3] or 0
    if spec["mode"] == "plain":
        disk_bytes, disk_bound = 0, 0
    else:
        disk_bytes, disk_bound = _disk(X, spec, dtype, order)
    step = max(1, len(series) // 400)  # keep the JSON small
    return {
        **{k: spec[k] for k in ("workload", "mode", "n_jobs", "folds")},
        "n_samples": int(X.shape[0]),
        "metric": monitor.metric,
        "peak_bytes": max(v for _, v, _, _ in series) - base_ram,
        "peak_committed_bytes": max(c for _, _, c, _ in series) - base_committed,
        "peak_anon_bytes": max((a or 0) for _, _, _, a in series) - base_anon,
        "disk_bytes": disk_bytes,
        "disk_bound_bytes": disk_bound,
        "seconds": seconds,
        "setup_seconds": setup_seconds,
        "workers_bytes": workers_bytes,
        "x_resident_bytes": x_resident_bytes,
        "score": score,
        "series": [[round(t, 3), v - base_ram] for t, v, _, _ in series[::step]],
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
    os.makedirs(folder, exist_ok=True)
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


# The measures an X-proportional figure is computed for: the run at full size
# minus the same run at ``baseline_rows`` rows, over X's size.
XPROP_KEYS = ("peak_bytes", "peak_committed_bytes", "peak_anon_bytes", "disk_bytes")
# Default size of the small run: large enough for every fold to have rows of
# both classes, small enough that its data is noise next to the interpreters.
BASELINE_ROWS = 1000


def _x_proportional(full, small, x_nbytes):
    return {
        k: (full[k] - small[k]) / x_nbytes
        for k in XPROP_KEYS
        if full.get(k) is not None and small.get(k) is not None
    }


def run_bench(
    *,
    n_samples=None,
    n_features=None,
    quick=False,
    workloads=None,
    n_jobs=None,
    folds=None,
    folder=None,
    baseline_rows=BASELINE_ROWS,
    combos=None,
    progress=print,
    timeout=1800,
):
    """Run every (workload, n_jobs, folds) with plain scikit-learn and skmemmap.

    Each pair runs interleaved (plain, then skmemmap), so both see the same
    load on a shared machine. With ``baseline_rows``, each pair also runs at
    that many rows first, and each full run gets ``xprop``: its memory and
    disk minus the small run's, as multiples of X's size (what grows with X;
    interpreters and the estimator's fixed buffers cancel out).

    ``combos``: ``(workload, n_jobs, folds)`` triples to run instead of
    every combination of ``workloads``, ``n_jobs`` and ``folds``. Those left
    None, and the size, are the full grid's, or with ``quick`` the headline's
    search at ``n_jobs=2`` and 2 and 5 folds on a small X (``QUICK_*``).

    Returns a dict with ``x_nbytes``, ``shape``, ``runs`` (one dict each)
    and ``baseline_runs`` (the small runs, in the same order).
    """
    shape = QUICK_SHAPE if quick else DEFAULT_SHAPE
    n_samples, n_features = n_samples or shape[0], n_features or shape[1]
    if combos is not None:
        workloads = list(dict.fromkeys(w for w, _, _ in combos))
    workloads = list(workloads or (QUICK_WORKLOADS if quick else DEFAULT_WORKLOADS))
    n_jobs = n_jobs or (QUICK_N_JOBS if quick else DEFAULT_N_JOBS)
    folds = folds or (QUICK_FOLDS if quick else DEFAULT_FOLDS)
    for w in workloads:
        if w not in WORKLOADS:
            raise ValueError(
                f"Unknown workload {w!r}; choose from {sorted(WORKLOADS)}."
            )
    if baseline_rows and baseline_rows >= n_samples:
        baseline_rows = 0  # X is already that small: no X-proportional figure
    triples = combos or [(w, j, k) for w in workloads for j in n_jobs for k in folds]
    combos = [(w, j, k, m) for w, j, k in triples for m in ("plain", "skmemmap")]
    runs, small_runs = [], []
    n_runs = len(combos) * (2 if baseline_rows else 1)
    done = 0

    def measure(spec, rows):
        nonlocal done
        from skmemmap._forecast import bench_committed

        result = _subprocess_run(spec, timeout)
        done += 1
        # What skmemmap.forecast says of this run, as the bench measures it.
        forecast = bench_committed(
            spec["workload"],
            spec["mode"],
            spec["n_jobs"],
            spec["folds"],
            (rows, n_features),
            quick,
        )
        result["forecast_committed_bytes"] = forecast
        # In copies of the full X (a small run's error is in the same units).
        error = (forecast - committed(result)) / (n_samples * n_features * 8)
        progress(
            f"[{done:>{len(str(n_runs))}}/{n_runs}] {spec['workload']:<6} "
            f"n_jobs={spec['n_jobs']} folds={spec['folds']} {spec['mode']:<8} "
            f"{rows:>7,} rows: PSS {result['peak_bytes'] / 2**20:6.0f} MB, "
            f"committed {committed(result) / 2**20:6.0f} MB "
            f"(forecast {forecast / 2**20:.0f} MB, {error:+.2f} x X), "
            f"disk {result['disk_bytes'] / 2**20:5.0f} MB, "
            f"{result['seconds']:6.1f} s ({time.perf_counter() - t0:4.0f} s so far)"
        )
        return result

    with tempfile.TemporaryDirectory(prefix="skmemmap-bench-", dir=folder) as tmp:
        t0 = time.perf_counter()
        x_path, y_path = _write_dataset(tmp, n_samples, n_features)
        if baseline_rows:
            small_x, small_y = _write_dataset(
                os.path.join(tmp, "small"), baseline_rows, n_features
            )
        x_nbytes = n_samples * n_features * 8
        progress(
            f"Dataset: X {n_samples:,} x {n_features} float64 "
            f"({format_mb(x_nbytes)}), written in "
            f"{time.perf_counter() - t0:.1f} s; {n_runs} runs, each in a fresh "
            f"process"
            + (
                f" ({len(combos)} at full size, each also at {baseline_rows:,} rows)"
                if baseline_rows
                else ""
            )
        )
        for i in range(0, len(combos), 2):
            pair = combos[i : i + 2]
            base = {"quick": quick, "folder": tmp}
            keys = ("workload", "n_jobs", "folds", "mode")
            if baseline_rows:
                for combo in pair:
                    spec = {**base, **dict(zip(keys, combo, strict=True))}
                    spec.update(x_path=small_x, y_path=small_y)
                    small_runs.append(measure(spec, baseline_rows))
            for n, combo in enumerate(pair, i):
                spec = {**base, **dict(zip(keys, combo, strict=True))}
                spec.update(x_path=x_path, y_path=y_path)
                result = measure(spec, n_samples)
                if baseline_rows:
                    result["xprop"] = _x_proportional(result, small_runs[n], x_nbytes)
                runs.append(result)
    return {
        "shape": [n_samples, n_features],
        "x_nbytes": x_nbytes,
        "quick": quick,
        "baseline_rows": baseline_rows,
        "runs": runs,
        "baseline_runs": small_runs,
    }


def _pairs(results):
    by_key = {}
    for r in results["runs"]:
        by_key.setdefault((r["workload"], r["n_jobs"], r["folds"]), {})[r["mode"]] = r
    return [
        (key, pair["plain"], pair["skmemmap"])
        for key, pair in by_key.items()
        if "plain" in pair and "skmemmap" in pair
    ]


def committed(run, xprop=False):
    """A run's committed memory: bytes, or copies of X with ``xprop``.

    The /dev/shm part of the monitor's reading is system-wide: on a shared
    machine, other jobs' joblib folders appear in it. Runs that put nothing
    in /dev/shm count only their anonymous memory, read per process:
    skmemmap (its files go to the temporary folder, on disk, and its arrays
    pickle by reference) and plain scikit-learn at ``n_jobs=1`` (joblib
    memmaps nothing without workers). Plain scikit-learn's joblib copy of X
    at ``n_jobs > 1`` does live in /dev/shm: its reading keeps /dev/shm.
    """
    own_shm = run.get("mode") == "plain" and run.get("n_jobs", 1) > 1
    anon = run.get("peak_anon_bytes") is not None
    key = "peak_anon_bytes" if anon and not own_shm else "peak_committed_bytes"
    return run.get("xprop", {}).get(key) if xprop else run.get(key)


def noise_bytes(x_nbytes):
    """Below this, a memory figure is measurement noise, not a denominator.

    Two readings of the same run differ by a few MB (allocator arenas,
    OpenMP buffers, the monitor's own samples), and an X-proportional figure
    is the difference of two runs: 8 MB or 2% of X, whichever is larger.
    """
    return max(8 * 2**20, 0.02 * x_nbytes)


def ratio_text(num, den, noise, width=6, digits=1):
    """``num / den`` formatted. Where ``den`` is under ``noise``, only a bound
    is known: ``">r"`` with ``r = num / noise`` (the ratio is at least that),
    or "-" if ``num`` is noise too (or either is missing)."""
    if num is None or den is None:
        return f"{'-':>{width}}"
    if den < noise:
        bound = f">{num / noise:.{digits}f}" if num > noise else "-"
        return f"{bound:>{width}}"
    return f"{num / den:>{width}.{digits}f}"


def _ratio_note(noise):
    return (
        f"Ratios divide plain by skmemmap; where skmemmap's figure is under "
        f"{noise} (noise), '>r' says the ratio is at least r (plain's figure "
        f"over {noise}), and '-' that plain's is noise too."
    )


def _mb(value, width=6):
    return f"{'-':>{width}}" if value is None else f"{value / 2**20:>{width}.0f}"


def _xx(value, width=5, digits=1):
    return f"{'-':>{width}}" if value is None else f"{value:>{width}.{digits}f}"


def format_table(results):
    """The side-by-side tables: one row per (workload, n_jobs, folds).

    First the raw peaks in MB, then (if the bench ran the small baseline) the
    X-proportional figures in copies of X.
    """
    x_nbytes = results["x_nbytes"]
    noise = noise_bytes(x_nbytes)
    pairs = _pairs(results)

    def side(r):
        return (
            f"{_mb(r['peak_bytes'])} {_xx(r['peak_bytes'] / x_nbytes)} "
            f"{_mb(committed(r))} {_mb(r.get('disk_bytes'))} "
            f"{r['seconds']:>6.1f}"
        )

    head = (
        f"{'':<22}| {'plain':^32} | {'skmemmap':^32} | "
        f"{'plain / skmemmap':^20}\n"
        f"{'workload':<8} {'n_jobs':>6} {'folds':>5} | {'PSS':>6} {'(xX)':>5} "
        f"{'commit':>6} {'disk':>6} {'s':>6} | {'PSS':>6} {'(xX)':>5} "
        f"{'commit':>6} {'disk':>6} {'s':>6} | {'PSS':>6} {'commit':>6} "
        f"{'time':>6}"
    )
    width = len(head.splitlines()[1])
    lines = [head, "-" * width]
    for (w, j, k), p, s in pairs:
        lines.append(
            f"{w:<8} {j:>6} {k:>5} | {side(p)} | {side(s)} | "
            f"{ratio_text(p['peak_bytes'], s['peak_bytes'], noise)} "
            f"{ratio_text(committed(p), committed(s), noise)} "
            f"{ratio_text(p['seconds'], s['seconds'], 1e-9, digits=2)}"
        )
    metric = results["runs"][0]["metric"].upper() if results["runs"] else "PSS"
    lines.append(
        f"Peaks above the start of the run, in MB, summed over the process tree. "
        f"PSS: {metric} with /dev/shm counted once (shared file pages divided "
        f"among the processes mapping them), also as copies of X (xX). commit: "
        f"anonymous memory plus /dev/shm (RAM only swap could free; file pages "
        f"left out; the /dev/shm reading is system-wide, so runs that write "
        f"nothing there, skmemmap's and plain n_jobs=1, count anonymous memory "
        f"only). disk: skmemmap's "
        f"sibling and gather files at the end of "
        f"the run. {_ratio_note(f'{noise / 2**20:.0f} MB')} Time in seconds."
    )
    if any("xprop" in s for _, _, s in pairs):
        lines += ["", _format_xprop(results, pairs)]
    return "\n".join(lines)


def _format_xprop(results, pairs):
    rows = results.get("baseline_rows")
    head = (
        f"{'':<22}| {'plain':^12} | {'skmemmap':^18} | {'plain / skmemmap':^13}\n"
        f"{'workload':<8} {'n_jobs':>6} {'folds':>5} | {'PSS':>5} {'commit':>6} | "
        f"{'PSS':>5} {'commit':>6} {'disk':>5} | {'PSS':>6} {'commit':>6}"
    )
    width = len(head.splitlines()[1])
    lines = [head, "-" * width]
    noise = noise_bytes(results["x_nbytes"]) / results["x_nbytes"]
    for (w, j, k), p, s in pairs:
        px, sx = p.get("xprop", {}), s.get("xprop", {})
        lines.append(
            f"{w:<8} {j:>6} {k:>5} | {_xx(px.get('peak_bytes'))} "
            f"{_xx(committed(p, True), 6, 2)} | "
            f"{_xx(sx.get('peak_bytes'))} {_xx(committed(s, True), 6, 2)} "
            f"{_xx(sx.get('disk_bytes'))} | "
            f"{ratio_text(px.get('peak_bytes'), sx.get('peak_bytes'), noise)} "
            f"{ratio_text(committed(p, True), committed(s, True), noise)}"
        )
    lines.append(
        f"X-proportional: the run at full size minus the same run at {rows:,} rows, "
        f"in copies of X (worker interpreters and fixed buffers cancel out). "
        f"{_ratio_note(f'{noise:.2f} X')}"
    )
    return "\n".join(lines)


def _import_pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError("--plot needs matplotlib: pip install matplotlib") from exc
    return plt


def _measure(run, key, x_nbytes):
    """A run's figure in copies of X: X-proportional if measured, else raw."""
    if key == "peak_committed_bytes":
        value = committed(run, xprop="xprop" in run)
        return value if "xprop" in run else value / x_nbytes
    if "xprop" in run and key in run["xprop"]:
        return run["xprop"][key]
    return run[key] / x_nbytes


# One colour per side in every figure: plain scikit-learn red, skmemmap blue.
COLORS = {"plain": "#c0504d", "skmemmap": "#4f81bd"}
_PANELS = (
    ("peak_committed_bytes", "committed (anonymous + /dev/shm)"),
    ("peak_bytes", "PSS (shared file pages counted once)"),
)


def _what(results, pairs):
    xprop = all("xprop" in s for _, _, s in pairs)
    what = (
        f"X-proportional (full size minus {results.get('baseline_rows'):,} rows)"
        if xprop
        else "above the start"
    )
    n, p = results["shape"]
    return what, f"X = {n:,} x {p} float64 ({format_mb(results['x_nbytes'])})"


def _marker(n_jobs):
    """Sequential runs are circles, parallel ones squares."""
    return "o" if n_jobs == 1 else "s"


def _draw_time_memory(ax, results, pairs, key, name):
    """Wall time against peak memory (copies of X): a point per run, an arrow
    from plain to skmemmap per configuration. Returns the legend's handles."""
    from matplotlib.lines import Line2D

    x_nbytes = results["x_nbytes"]
    several = len({w for (w, _, _), _, _ in pairs}) > 1
    xs_all = []
    for (w, j, k), p, s in pairs:
        xp, xs = _measure(p, key, x_nbytes), _measure(s, key, x_nbytes)
        tp, ts = p["seconds"], s["seconds"]
        xs_all += [xp, xs]
        ax.annotate(
            "",
            xy=(xs, ts),
            xytext=(xp, tp),
            arrowprops={"arrowstyle": "->", "color": "0.45", "shrinkA": 6},
        )
        for mode, x, t in (("plain", xp, tp), ("skmemmap", xs, ts)):
            ax.plot(x, t, _marker(j), color=COLORS[mode], ms=8, zorder=3)
        ax.annotate(
            f"{w}, " * several + f"{k} folds, n_jobs={j}",
            (xp, tp),
            xytext=(7, 3),
            textcoords="offset points",
            fontsize=7,
        )
    times = [r["seconds"] for _, p, s in pairs for r in (p, s)]
    if max(times) > 20 * max(min(times), 1e-3):
        ax.set_yscale("log")
    else:
        ax.set_ylim(0, 1.15 * max(times))
    # room on the right for the labels of the rightmost points
    ax.set_xlim(min(0.0, *xs_all) - 0.05, 1.4 * max(0.1, *xs_all))
    ax.set_xlabel(f"peak {name}\n(copies of X)")
    ax.set_ylabel("wall time (s)")
    ax.grid(alpha=0.3)
    handles = [
        Line2D([], [], ls="", marker="o", color=COLORS[mode], label=label)
        for mode, label in (("plain", "plain scikit-learn"), ("skmemmap", "skmemmap"))
    ]
    for j in sorted({j for (_, j, _), _, _ in pairs}):
        label = f"{'sequential' if j == 1 else 'parallel'}, n_jobs={j}"
        handles.append(
            Line2D([], [], ls="", marker=_marker(j), color="0.5", label=label)
        )
    return handles


def plot_time_memory(results, path, title=None):
    """Wall time against peak memory, committed and PSS: a point per run
    (plain red, skmemmap blue), an arrow from plain to skmemmap for every
    (workload, n_jobs, folds). ``title`` defaults to the workload's name."""
    plt = _import_pyplot()
    pairs = _pairs(results)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.6))
    for ax, (key, name) in zip(axes, _PANELS, strict=True):
        handles = _draw_time_memory(ax, results, pairs, key, name)
    if title is None:
        workloads = {w for (w, _, _), _, _ in pairs}
        title = "Wall time against peak extra memory"
        if len(workloads) == 1:
            title = f"{WORKLOADS[workloads.pop()]}: {title[0].lower()}{title[1:]}"
    what, x = _what(results, pairs)
    fig.suptitle(f"{title}\n{x}; memory {what}", fontsize=10)
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), frameon=False)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_results(results, path):
    """Every run: wall time against peak memory (committed and PSS, with an
    arrow from plain to skmemmap for each configuration), then the peaks in
    copies of X as bars, plain against skmemmap, with a 1 x X line."""
    plt = _import_pyplot()
    x_nbytes = results["x_nbytes"]
    pairs = _pairs(results)
    labels = [f"{w}\nj={j} k={k}" for (w, j, k), _, _ in pairs]
    pos = np.arange(len(pairs))
    fig = plt.figure(figsize=(max(10, 0.55 * len(pairs) + 2), 11.5))
    grid = fig.add_gridspec(3, 2, height_ratios=(1.25, 1, 1))
    for col, (key, name) in enumerate(_PANELS):
        ax = fig.add_subplot(grid[0, col])
        handles = _draw_time_memory(ax, results, pairs, key, name)
    ax.legend(handles=handles, fontsize=7, frameon=False)
    bars = [fig.add_subplot(grid[1, :])]
    bars.append(fig.add_subplot(grid[2, :], sharex=bars[0]))
    for ax, (key, name) in zip(bars, _PANELS, strict=True):
        for shift, mode in ((-0.2, "plain"), (0.2, "skmemmap")):
            values = [
                _measure(p if mode == "plain" else s, key, x_nbytes)
                for _, p, s in pairs
            ]
            ax.bar(pos + shift, values, 0.4, label=mode, color=COLORS[mode])
        ax.axhline(1.0, color="black", lw=0.8, ls="--", label="1 x X (one copy of X)")
        ax.set_ylabel(f"peak {name.split(' (')[0]}\ncopies of X")
        ax.grid(axis="y", alpha=0.3)
    what, x = _what(results, pairs)
    fig.suptitle(f"Peak extra memory, {what}, and wall time\n{x}", fontsize=10)
    bars[0].legend(loc="upper left", ncol=3, frameon=False, fontsize=8)
    bars[0].tick_params(labelbottom=False)
    bars[1].set_xticks(pos, labels, fontsize=7)
    bars[1].set_xlabel("workload, n_jobs (j) and folds (k)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_kfold(results, path, workload=None, n_jobs=None):
    """Memory and disk against the number of folds k, plain and skmemmap."""
    plt = _import_pyplot()
    x_nbytes = results["x_nbytes"]
    pairs = _pairs(results)
    workload = workload or pairs[0][0][0]
    n_jobs = n_jobs or max(j for (_, j, _), _, _ in pairs)
    sel = sorted(
        ((k, p, s) for (w, j, k), p, s in pairs if w == workload and j == n_jobs),
        key=lambda t: t[0],
    )
    ks = [k for k, _, _ in sel]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    for key, name, style in (
        ("peak_committed_bytes", "committed", "-"),
        ("peak_bytes", "PSS", ":"),
    ):
        for mode, marker in (("plain", "o"), ("skmemmap", "s")):
            color = COLORS[mode]
            ys = [
                _measure(p if mode == "plain" else s, key, x_nbytes) for _, p, s in sel
            ]
            ax1.plot(ks, ys, style, color=color, marker=marker, label=f"{mode} {name}")
    ax1.axhline(1.0, color="black", lw=0.8, ls="--")
    ax1.set_xlabel("folds k")
    ax1.set_ylabel("peak extra memory (copies of X)")
    ax1.set_title(f"Memory: {workload}, n_jobs={n_jobs}", fontsize=10)
    ax1.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    disk = [s["disk_bytes"] / x_nbytes for _, _, s in sel]
    bound = [s.get("disk_bound_bytes", 0) / x_nbytes for _, _, s in sel]
    ax2.plot(
        ks, disk, "-s", color=COLORS["skmemmap"], label="skmemmap files (measured)"
    )
    ax2.plot(ks, bound, "--", color="black", label="bound (k-2)(k-1)/k Xc + Xc")
    ax2.set_xlabel("folds k")
    ax2.set_ylabel("disk (copies of the float64 X)")
    ax2.set_title("Disk: layout sibling + gathered training sets", fontsize=10)
    ax2.legend(fontsize=8, loc="upper left", frameon=False)
    for ax in (ax1, ax2):
        ax.set_xticks(ks)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _listed(values):
    return ",".join(str(v) for v in values)


def add_arguments(parser):
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"the headline's search only ({_listed(QUICK_WORKLOADS)}, n_jobs "
        f"{_listed(QUICK_N_JOBS)}, folds {_listed(QUICK_FOLDS)}), on "
        f"{QUICK_SHAPE[0]:,} x {QUICK_SHAPE[1]}: about a minute on 2 cores",
    )
    parser.add_argument(
        "--n-samples",
        type=int,
        default=None,
        help=f"default {DEFAULT_SHAPE[0]:,} ({QUICK_SHAPE[0]:,} with --quick)",
    )
    parser.add_argument(
        "--n-features",
        type=int,
        default=None,
        help=f"default {DEFAULT_SHAPE[1]} ({QUICK_SHAPE[1]} with --quick)",
    )
    parser.add_argument(
        "--workloads",
        default=None,
        help=f"comma-separated, from {','.join(WORKLOADS)} (default "
        f"{_listed(DEFAULT_WORKLOADS)}; {_listed(QUICK_WORKLOADS)} with --quick)",
    )
    parser.add_argument(
        "--n-jobs",
        default=None,
        help=f"comma-separated n_jobs values (default {_listed(DEFAULT_N_JOBS)}; "
        f"{_listed(QUICK_N_JOBS)} with --quick)",
    )
    parser.add_argument(
        "--folds",
        default=None,
        help=f"comma-separated fold counts (default {_listed(DEFAULT_FOLDS)}; "
        f"{_listed(QUICK_FOLDS)} with --quick)",
    )
    parser.add_argument(
        "--baseline-rows",
        type=int,
        default=BASELINE_ROWS,
        help="also run each pair at this many rows, for the X-proportional "
        "figures (full size minus this run); 0 skips it",
    )
    parser.add_argument(
        "--plot",
        metavar="FILE.png",
        default=None,
        help="wall time against peak memory (an arrow from plain to skmemmap "
        "per configuration), and peak memory in copies of X as bars",
    )
    parser.add_argument(
        "--plot-folds",
        metavar="FILE.png",
        default=None,
        help="memory and disk against the number of folds (the first workload, "
        "the largest n_jobs)",
    )
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


def report_checks(checks):
    """Print one PASS/FAIL line per ``(name, ok, detail)``; 1 if one failed."""
    for name, ok, detail in checks:
        print(f"{'PASS' if ok else 'FAIL'}  {name}: {detail}")
    return 0 if all(ok for _, ok, _ in checks) else 1


def exit_on_sigterm():
    """Make SIGTERM (``kill``, a CI timeout) exit normally, so that the
    temporary dataset folder is removed; Python's default would skip that."""
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


def print_progress(line):
    """A run's progress line, on standard error and flushed."""
    print(line, file=sys.stderr, flush=True)


def saved_or_new_results(from_json, **kwargs):
    """The results an earlier run saved to ``from_json``, or, if that is
    empty, a new :func:`run_bench` of ``kwargs`` printing its progress."""
    if from_json:
        with open(from_json) as f:
            return json.load(f)
    return run_bench(progress=print_progress, **kwargs)


def main_bench(args):
    exit_on_sigterm()
    results = run_bench(
        n_samples=args.n_samples,
        n_features=args.n_features,
        quick=args.quick,
        workloads=None
        if args.workloads is None
        else [w.strip() for w in args.workloads.split(",") if w.strip()],
        n_jobs=None if args.n_jobs is None else _int_list(args.n_jobs, "n-jobs"),
        folds=None if args.folds is None else _int_list(args.folds, "folds"),
        folder=args.folder,
        baseline_rows=max(0, args.baseline_rows),
        progress=print_progress,
    )
    print(format_table(results))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
        print(f"Results written to {args.json}")
    if args.plot:
        plot_results(results, args.plot)
        print(f"Figure written to {args.plot}")
    if args.plot_folds:
        plot_kfold(results, args.plot_folds)
        print(f"Figure written to {args.plot_folds}")
    return 0


if __name__ == "__main__":
    with contextlib.redirect_stdout(sys.stderr):
        result = run_one(json.loads(sys.argv[1]))
    print(json.dumps(result))
