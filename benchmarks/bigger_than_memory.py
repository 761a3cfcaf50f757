"""X bigger than memory: plain NumPy, the hand-written chunk loop, and skmemmap.

    python benchmarks/bigger_than_memory.py           # 1 GiB limit, 3 passes
    python benchmarks/bigger_than_memory.py --quick   # 512 MiB limit, 1 pass
    python benchmarks/bigger_than_memory.py --cases numpy,loop
    python benchmarks/bigger_than_memory.py --from-json RESULTS.json --plot FIG.png

X is saved as chunk files of 36,000 x 250 float64 (69 MiB each, as in
issue 18), with 0.5, 1, 2 and 3 x the limit of them (the smaller X are the
first chunks of the larger). Every case runs in a fresh process inside a
fresh memory cgroup limited to ``--limit``, after the page cache is dropped
(``benchmarks/cgroup.py``; needs root and cgroup v1), and once more on a tiny
X of two 500-row chunks: that run's peak is the case's interpreters (and
workers), the baseline its memory is judged against.

Cases (``--cases`` picks groups):

* ``numpy``: ``np.concatenate`` of the chunks (each ``np.load``-ed with
  ``mmap_mode="r"``, so X is in memory once, not twice), then
  ``SGDClassifier(max_iter=passes).fit``. Expected to be OOM-killed above
  1 x the limit.
* ``loop``: the hand-written loop, the reference: ``np.load`` one chunk,
  ``partial_fit``, drop it; the same passes. SGDClassifier, MiniBatchKMeans,
  IncrementalPCA (one pass), and StandardScaler -> SGDClassifier (the scaler
  one pass, then the passes of SGD on transformed chunks).
* ``skmemmap``: the same four through ``skmemmap.StreamingEstimator`` on
  ``skmemmap.load(chunk paths)``, and a 2-fold, n_jobs=2 GridSearchCV over
  StreamingEstimator(SGDClassifier) on the chunk list (refit=False). These
  need ``skmemmap.StreamingEstimator`` (issue 18, section 2): without it
  they are listed as not run, and the targets they carry fail.

Targets (issue 18, section 5), checked at the largest X; exit 1 on a miss:

* plain NumPy is OOM-killed at every X above 1 x the limit;
* every skmemmap run completes, at every X;
* skmemmap writes 0 bytes of data (``.npy`` files under its folder);
* skmemmap's peak anonymous memory of the process tree is at most its
  baseline (the interpreters) + 2 blocks per fitting process + the model +
  the estimator's own working memory per ``partial_fit`` call, which the
  hand-written loop measures (its peak beyond its interpreter, its one chunk
  and the model: several blocks for IncrementalPCA's SVD, none for SGD);
* skmemmap's fit time is at most 1.3 x the hand-written loop's, same passes.

Prints the table and one PASS/FAIL line per target; ``--json`` writes every
number (default ``doc/_static/bigger_than_memory.json`` for the full run),
``--plot`` the figure (fit time and peak memory against X / limit).

IncrementalPCA dominates the time: one ``partial_fit`` of a 36,000-row chunk
is an SVD of about 2 s on one core. ``--quick`` took 19 minutes on a 2-core
machine shared with other work (load ~8), where OpenBLAS's two threads ran
IncrementalPCA 4x slower than one thread; run it on an idle machine for the
docs. Both the hand-written loop and skmemmap use the same BLAS threads.
"""

import argparse
import dataclasses
import json
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path[:0] = [p for p in (HERE, ROOT) if p not in sys.path]

import numpy as np  # noqa: E402
from cgroup import cgroup_unavailable, run_limited  # noqa: E402

from skmemmap._bench import _import_pyplot, exit_on_sigterm, report_checks  # noqa: E402
from skmemmap._utils import format_mb, parse_nbytes  # noqa: E402

ROWS, FEATURES = 36_000, 250  # one chunk: 69 MiB of float64, as in issue 18
TINY_ROWS = 500  # the baseline's two chunks: interpreters, no X to speak of
MULTIPLES = (0.5, 1, 2, 3)
TIME_TARGET = 1.3
DEFAULT_JSON = os.path.join(ROOT, "doc", "_static", "bigger_than_memory.json")

# -- the cases ---------------------------------------------------------------------
PRELUDE = """
import json, pickle, time, warnings
import numpy as np
warnings.simplefilter("ignore")  # ConvergenceWarning of max_iter=passes
x_paths, y_paths, passes = {x_paths!r}, {y_paths!r}, {passes}
"""
# Between a case's imports and its body: the time it reports is the fit's.
START = """
t0 = time.perf_counter()
"""
REPORT = """
seconds = time.perf_counter() - t0
print(json.dumps({"seconds": seconds, "model_nbytes": len(pickle.dumps(model))}))
"""

ESTIMATORS = {
    "sgd": (
        "from sklearn.linear_model import SGDClassifier",
        "SGDClassifier(random_state=0)",
    ),
    "mbkm": (
        "from sklearn.cluster import MiniBatchKMeans",
        "MiniBatchKMeans(n_clusters=8, n_init=1, random_state=0)",
    ),
    "ipca": (
        "from sklearn.decomposition import IncrementalPCA",
        "IncrementalPCA(n_components=10)",
    ),
    "pipe": (
        "from sklearn.linear_model import SGDClassifier\n"
        "from sklearn.pipeline import make_pipeline\n"
        "from sklearn.preprocessing import StandardScaler",
        "make_pipeline(StandardScaler(), SGDClassifier(random_state=0))",
    ),
}
NAMES = {
    "sgd": "SGDClassifier",
    "mbkm": "MiniBatchKMeans",
    "ipca": "IncrementalPCA",
    "pipe": "StandardScaler -> SGD",
    "search": "GridSearchCV(2 folds, n_jobs=2)",
}
SUPERVISED = {"sgd", "pipe", "search"}
# IncrementalPCA: one pass (a second pass over the same rows is not a better fit).
ONE_PASS = {"ipca"}

NUMPY = """
X = np.concatenate([np.load(p, mmap_mode="r") for p in x_paths])
y = np.concatenate([np.load(p) for p in y_paths])
model = SGDClassifier(random_state=0, max_iter=passes, tol=None).fit(X, y)
"""

LOOP = {
    "sgd": """
model = SGDClassifier(random_state=0)
for _ in range(passes):
    for xp, yp in zip(x_paths, y_paths):
        X, y = np.load(xp), np.load(yp)
        model.partial_fit(X, y, classes=[0, 1])
        del X, y
""",
    "mbkm": """
model = MiniBatchKMeans(n_clusters=8, n_init=1, random_state=0)
for _ in range(passes):
    for xp in x_paths:
        X = np.load(xp)
        model.partial_fit(X)
        del X
""",
    "ipca": """
model = IncrementalPCA(n_components=10)
for xp in x_paths:
    X = np.load(xp)
    model.partial_fit(X)
    del X
""",
    "pipe": """
model = make_pipeline(StandardScaler(), SGDClassifier(random_state=0))
scaler, sgd = model[0], model[1]
for xp in x_paths:
    X = np.load(xp)
    scaler.partial_fit(X)
    del X
for _ in range(passes):
    for xp, yp in zip(x_paths, y_paths):
        X, y = scaler.transform(np.load(xp)), np.load(yp)
        sgd.partial_fit(X, y, classes=[0, 1])
        del X, y
""",
}

STREAMING = """
X = skmemmap.load(x_paths)
y = skmemmap.load(y_paths) if {supervised} else None
model = skmemmap.StreamingEstimator({estimator}, n_passes={n_passes}, random_state=0)
model.fit(X, y)
"""
SEARCH_IMPORTS = """
import skmemmap
from sklearn.linear_model import SGDClassifier
from sklearn.model_selection import GridSearchCV
"""
SEARCH = """
X, y = skmemmap.load(x_paths), skmemmap.load(y_paths)
model = GridSearchCV(
    skmemmap.StreamingEstimator(SGDClassifier(random_state=0), n_passes=passes,
                                random_state=0),
    {"estimator__alpha": [1e-4, 1e-3]},
    cv=skmemmap.ContiguousKFold(2),
    n_jobs=2,
    refit=False,
).fit(X, y)
"""


@dataclasses.dataclass(frozen=True)
class Case:
    group: str  # numpy, loop, skmemmap
    estimator: str  # a key of NAMES
    imports: str
    body: str  # timed: the snippet between START and REPORT
    processes: int = 1  # processes that fit (and hold blocks)

    @property
    def name(self):
        return f"{self.group}: {NAMES[self.estimator]}"


def cases():
    out = [Case("numpy", "sgd", ESTIMATORS["sgd"][0], NUMPY)]
    for key in ("sgd", "mbkm", "ipca", "pipe"):
        out.append(Case("loop", key, ESTIMATORS[key][0], LOOP[key]))
    for key in ("sgd", "mbkm", "ipca", "pipe"):
        body = STREAMING.format(
            supervised=key in SUPERVISED,
            estimator=ESTIMATORS[key][1],
            n_passes=1 if key in ONE_PASS else "passes",
        )
        imports = "import skmemmap\n" + ESTIMATORS[key][0]
        out.append(Case("skmemmap", key, imports, body))
    out.append(Case("skmemmap", "search", SEARCH_IMPORTS, SEARCH, processes=2))
    return out


def streaming_missing():
    """Why the skmemmap cases cannot run in this checkout, or None."""
    import skmemmap

    needed = ("StreamingEstimator", "ChunkedArray")
    missing = [name for name in needed if not hasattr(skmemmap, name)]
    if missing:
        return f"skmemmap has no {', '.join(missing)} yet (issue 18)"
    return None


# -- the data ------------------------------------------------------------------------
def make_chunks(folder, n_chunks, rows=ROWS, seed=0):
    """``n_chunks`` X chunk files (rows x FEATURES float64) and their y files,
    made once and reused; y is a noisy linear function of X (learnable)."""
    os.makedirs(folder, exist_ok=True)
    w = np.random.default_rng(seed).standard_normal(FEATURES)
    x_paths, y_paths = [], []
    for i in range(n_chunks):
        xp = os.path.join(folder, f"train_x_{i}.npy")
        yp = os.path.join(folder, f"train_y_{i}.npy")
        if not (_has_shape(xp, (rows, FEATURES)) and _has_shape(yp, (rows,))):
            rng = np.random.default_rng([seed, i])
            X = rng.standard_normal((rows, FEATURES))
            y = (X @ w + rng.standard_normal(rows) > 0).astype(np.int64)
            np.save(xp, X)
            np.save(yp, y)
            del X
        x_paths.append(xp)
        y_paths.append(yp)
    return x_paths, y_paths


def _has_shape(path, shape):
    try:
        return np.load(path, mmap_mode="r").shape == shape
    except (OSError, ValueError):
        return False


# -- running ---------------------------------------------------------------------------
def run_case(case, x_paths, y_paths, passes, limit, drop_cache=True):
    code = PRELUDE.format(x_paths=x_paths, y_paths=y_paths, passes=passes)
    code += case.imports + START + case.body + REPORT
    run = run_limited(code, limit=limit, drop_cache=drop_cache)
    result = run.result() or {}
    record = run.to_dict()
    record.update(
        case=case.name,
        group=case.group,
        estimator=case.estimator,
        n_chunks=len(x_paths),
        x_nbytes=len(x_paths) * ROWS * FEATURES * 8,
        fit_seconds=result.get("seconds"),
        model_nbytes=result.get("model_nbytes"),
    )
    return record


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="512 MiB, 1 pass")
    parser.add_argument("--limit", default=None, help="memory limit (default 1G)")
    parser.add_argument("--passes", type=int, default=None, help="default 3 (quick 1)")
    parser.add_argument("--multiples", default=",".join(map(str, MULTIPLES)))
    parser.add_argument("--cases", default="numpy,loop,skmemmap")
    parser.add_argument(
        "--data",
        default=None,
        help="chunk folder, kept and reused (default: a private temporary folder "
        "removed at exit)",
    )
    parser.add_argument("--json", default=None)
    parser.add_argument("--plot", default=None, help="figure (PNG) of the runs")
    parser.add_argument(
        "--from-json",
        default=None,
        help="draw --plot from the runs saved in this JSON file; run nothing",
    )
    args = parser.parse_args(argv)
    if args.from_json:
        if not args.plot:
            parser.error("--from-json draws a figure: give --plot FILE.png")
        with open(args.from_json) as f:
            saved = json.load(f)
        plot(saved["runs"], saved["limit"], args.plot)
        print(f"Figure written to {args.plot}")
        return 0
    reason = cgroup_unavailable()
    if reason is not None:
        print(f"Cannot run: {reason}.", file=sys.stderr)
        return 2
    exit_on_sigterm()
    limit = parse_nbytes(args.limit or ("512M" if args.quick else "1G"), "--limit")
    passes = args.passes or (1 if args.quick else 3)
    multiples = [float(m) for m in args.multiples.split(",")]
    groups = [g.strip() for g in args.cases.split(",") if g.strip()]
    json_path = args.json or (None if args.quick else DEFAULT_JSON)
    if args.data is None:
        with tempfile.TemporaryDirectory(prefix="skmemmap-bench-chunks-") as data:
            return _run(args, argv, limit, passes, multiples, groups, json_path, data)
    return _run(args, argv, limit, passes, multiples, groups, json_path, args.data)


def _run(args, argv, limit, passes, multiples, groups, json_path, data):
    chunk_nbytes = ROWS * FEATURES * 8
    counts = {m: max(1, round(m * limit / chunk_nbytes)) for m in multiples}
    print(
        f"limit {format_mb(limit)}, {passes} pass(es), chunks of {ROWS:,} x "
        f"{FEATURES} float64 ({format_mb(chunk_nbytes)}) in {data}",
        file=sys.stderr,
    )
    x_all, y_all = make_chunks(data, max(counts.values()))
    tiny = make_chunks(os.path.join(data, "tiny"), 2, rows=TINY_ROWS)

    missing = streaming_missing() if "skmemmap" in groups else None
    runs, baselines, not_run = [], {}, []
    for case in cases():
        if case.group not in groups:
            continue
        if case.group == "skmemmap" and missing:
            not_run.append(case.name)
            continue
        baselines[case.name] = run_case(case, *tiny, passes, limit, drop_cache=False)
        for m in multiples:
            k = counts[m]
            print(f"{case.name}, X = {m} x limit ...", file=sys.stderr, flush=True)
            record = run_case(case, x_all[:k], y_all[:k], passes, limit)
            record.update(
                multiple=m,
                x_over_limit=k * chunk_nbytes / limit,
                processes=case.processes,
            )
            record["baseline_anon"] = baselines[case.name]["peak_anon"]
            record["allowed_anon"] = (
                record["baseline_anon"]
                + 2 * case.processes * chunk_nbytes
                + (record["model_nbytes"] or 0)
            )
            runs.append(record)
    print(format_table(runs))
    if not_run:
        print(f"\nNot run ({missing}): {', '.join(not_run)}")
    checks = targets(runs, groups, not_run, missing)
    if json_path:
        with open(json_path, "w") as f:
            json.dump(
                {
                    "command": "python benchmarks/bigger_than_memory.py "
                    + " ".join(argv if argv is not None else sys.argv[1:]),
                    "limit": limit,
                    "passes": passes,
                    "chunk": {"rows": ROWS, "features": FEATURES},
                    "runs": runs,
                    "baselines": baselines,
                    "not_run": not_run,
                    "checks": [
                        {"target": t, "ok": ok, "detail": d} for t, ok, d in checks
                    ],
                },
                f,
                indent=1,
            )
        print(f"Results written to {json_path}")
    if args.plot:
        plot(runs, limit, args.plot)
        print(f"Figure written to {args.plot}")
    return report_checks(checks)


def format_table(runs):
    head = (
        f"{'case':<40} {'X/limit':>7} {'X MB':>7} {'status':>10} {'fit s':>7} "
        f"{'wall s':>7} {'peak anon':>10} {'baseline':>9} {'written':>8} left"
    )
    lines = [head, "-" * len(head)]
    for r in runs:
        fit = "-" if r["fit_seconds"] is None else f"{r['fit_seconds']:.1f}"
        lines.append(
            f"{r['case']:<40} {r['x_over_limit']:>7.2f} {r['x_nbytes'] / 2**20:>7,.0f} "
            f"{r['status']:>10} {fit:>7} {r['seconds']:>7.1f} "
            f"{_mb(r['peak_anon']):>10} {_mb(r['baseline_anon']):>9} "
            f"{_mb(r['peak_data_written']):>8} {len(r['left'])}"
        )
    return "\n".join(lines)


# plain red, skmemmap blue, as in every figure of the docs
COLORS = {"numpy": "#c0504d", "loop": "tab:gray", "skmemmap": "#4f81bd"}
STYLES = {"sgd": "o-", "mbkm": "s--", "ipca": "^:", "pipe": "D-.", "search": "v-"}


def plot(runs, limit, path):
    """Fit time and peak anonymous memory against X / limit, one line per case;
    a run killed by the OOM killer is an x at the memory it reached."""
    plt = _import_pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 5.2))
    for case in dict.fromkeys(r["case"] for r in runs):
        rs = [r for r in runs if r["case"] == case]
        color, style = COLORS[rs[0]["group"]], STYLES[rs[0]["estimator"]]
        ok = [r for r in rs if r["status"] == "ok"]
        x = [r["x_over_limit"] for r in ok]
        left.plot(x, [r["fit_seconds"] for r in ok], style, color=color, label=case)
        right.plot(x, [r["peak_anon"] / 2**20 for r in ok], style, color=color)
        killed = [r for r in rs if r["status"] != "ok"]
        right.plot(
            [r["x_over_limit"] for r in killed],
            [r["peak_anon"] / 2**20 for r in killed],
            "x",
            color=color,
            markersize=10,
        )
    right.axhline(limit / 2**20, color="black", linewidth=0.8)
    right.text(
        0.01,
        limit / 2**20,
        "memory limit",
        va="bottom",
        fontsize=8,
        transform=right.get_yaxis_transform(),
    )
    left.set(xlabel="X / memory limit", ylabel="fit time (s)", yscale="log")
    right.set(xlabel="X / memory limit", ylabel="peak anonymous memory (MB)")
    fig.legend(loc="lower center", ncol=4, fontsize=7, frameon=False)
    fig.tight_layout(rect=(0, 0.14, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _mb(nbytes):
    return f"{nbytes / 2**20:,.0f} MB"


def _own_working_memory(loop):
    """What one ``partial_fit`` call allocates beyond its block, as the
    hand-written loop measured it: its peak minus its interpreter, the one
    chunk it loaded and the model (IncrementalPCA's SVD of the block needs
    several blocks of its own; SGD's nothing). No loop run: 0."""
    if loop is None or loop.get("status") != "ok":
        return 0
    chunk_nbytes = ROWS * FEATURES * 8
    used = loop["peak_anon"] - loop["baseline_anon"] - (loop["model_nbytes"] or 0)
    return max(0, used - chunk_nbytes)


def targets(runs, groups, not_run, missing):
    """``(target, ok, detail)`` for each target of issue 18, section 5."""
    checks = []
    top = max((r["multiple"] for r in runs), default=None)
    by = {(r["group"], r["estimator"], r["multiple"]): r for r in runs}
    if "numpy" in groups:
        above = [r for r in runs if r["group"] == "numpy" and r["x_over_limit"] > 1]
        checks.append(
            (
                "plain NumPy is OOM-killed above 1 x the limit",
                bool(above) and all(r["oom_killed"] for r in above),
                ", ".join(f"{r['x_over_limit']:.2f}x: {r['status']}" for r in above)
                or "no X above the limit was run",
            )
        )
    if "skmemmap" not in groups:
        return checks
    if not_run:
        checks.append(("the skmemmap cases run", False, f"not run: {missing}"))
        return checks
    sk = [r for r in runs if r["group"] == "skmemmap"]
    bad = [
        f"{r['case']} at {r['multiple']}x: {r['status']}"
        for r in sk
        if r["status"] != "ok"
    ]
    detail = "; ".join(bad) or f"{len(sk)} runs"
    checks.append(("every skmemmap run completes", not bad, detail))
    top_runs = [r for r in sk if r["multiple"] == top]
    written = {r["case"]: r["peak_data_written"] for r in top_runs}
    checks.append(
        (
            f"0 bytes written at {top}x",
            not any(written.values()),
            ", ".join(f"{c}: {format_mb(n)}" for c, n in written.items()),
        )
    )
    over = []
    for r in top_runs:
        own = _own_working_memory(by.get(("loop", r["estimator"], top)))
        r["own_working_anon"] = own
        allowed = r["allowed_anon"] + own * r.get("processes", 1)
        if r["peak_anon"] > allowed:
            over.append(
                f"{r['case']}: {format_mb(r['peak_anon'])} > {format_mb(allowed)}"
            )
    checks.append(
        (
            f"peak anonymous memory <= interpreters + 2 blocks + model + the "
            f"estimator's own working memory per partial_fit call at {top}x",
            not over,
            "; ".join(over)
            or ", ".join(f"{r['case']}: {format_mb(r['peak_anon'])}" for r in top_runs),
        )
    )
    if "loop" in groups:
        slow = []
        for r in top_runs:
            loop = by.get(("loop", r["estimator"], top))
            if loop is None or r["fit_seconds"] is None or not loop.get("fit_seconds"):
                continue
            ratio = r["fit_seconds"] / loop["fit_seconds"]
            slow.append((r["case"], ratio))
        checks.append(
            (
                f"fit time <= {TIME_TARGET} x the hand-written loop at {top}x",
                bool(slow) and all(ratio <= TIME_TARGET for _, ratio in slow),
                ", ".join(f"{c}: {ratio:.2f}x" for c, ratio in slow)
                or "nothing to compare",
            )
        )
    return checks


if __name__ == "__main__":
    sys.exit(main())
