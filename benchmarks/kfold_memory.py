"""Issue 13's targets: scikit-learn's default cv=5 as lean as 2 folds.

    python benchmarks/kfold_memory.py        # X = 100,000 x 400 float64 (320 MB)

Runs ``GridSearchCV(RandomForestClassifier(n_estimators=6, max_depth=6), 2
candidates)`` with plain scikit-learn (in-memory X, ``KFold``) and with
skmemmap (X mapped in the forest's float32 Fortran layout, converted once
from the float64 file; ``ContiguousKFold``; ``MemmapEstimator``) at 5 folds
with ``n_jobs`` 1 and 2, and at 2 folds with ``n_jobs=2``. Each run is a
fresh process (see ``skmemmap._bench``); plain and skmemmap alternate so that
both see the same load. Every pair also runs at 1,000 rows: the
X-proportional figures are the run at full size minus that run, over X's
size, so worker interpreters and fixed buffers cancel out. Committed memory
is the anonymous memory of the process tree plus /dev/shm; PSS counts shared
file pages once.

Targets (X-proportional):

* 5 folds, n_jobs=1: skmemmap committed <= 0.15 X; PSS <= 0.8 x plain's;
* 5 folds, n_jobs=2: skmemmap committed <= 0.15 X; PSS <= 0.5 x plain's;
* 5 folds: wall time <= plain's at both n_jobs; the best score identical;
* 2 folds, n_jobs=2: committed <= 0.15 X, time <= 0.95 x plain's.

Prints the table and one PASS/FAIL line per target, writes the results to
``--json`` (default ``doc/_static/kfold_memory.json``) and the 5-fold
``n_jobs=2`` headline to ``--headline`` (default ``doc/_static/headline.json``);
exits 1 if a target is missed.
"""

import argparse
import json
import os
import sys

try:
    import skmemmap  # noqa: F401
except ImportError:  # run from a source checkout without installing
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from skmemmap._bench import (
    WORKLOADS,
    committed,
    exit_on_sigterm,
    format_table,
    report_checks,
    saved_or_new_results,
)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

COMMAND = "python benchmarks/kfold_memory.py"
WORKLOAD = "rf6"
COMBOS = [(WORKLOAD, 1, 5), (WORKLOAD, 2, 5), (WORKLOAD, 2, 2)]
COMMITTED_MAX = 0.15  # x X, every configuration
PSS_SHARE = {1: 0.8, 2: 0.5}  # skmemmap's PSS over plain's, 5 folds
TWO_FOLD_TIME = 0.95  # skmemmap's time over plain's, 2 folds, n_jobs=2


def check(results):
    """``[(name, ok, detail)]`` for every target."""
    run = {(r["mode"], r["n_jobs"], r["folds"]): r for r in results["runs"]}
    checks = []

    def xp(mode, j, k, key):
        return run[mode, j, k]["xprop"][key]

    for j, k in ((1, 5), (2, 5), (2, 2)):
        c = committed(run["skmemmap", j, k], xprop=True)
        checks.append(
            (
                f"folds={k} n_jobs={j}: skmemmap committed <= {COMMITTED_MAX} X",
                c <= COMMITTED_MAX,
                f"{c:.3f} X (plain {committed(run['plain', j, k], xprop=True):.2f} X)",
            )
        )
    for j, share in PSS_SHARE.items():
        s, p = xp("skmemmap", j, 5, "peak_bytes"), xp("plain", j, 5, "peak_bytes")
        checks.append(
            (
                f"folds=5 n_jobs={j}: skmemmap PSS <= {share} x plain's",
                s <= share * p,
                f"{s:.2f} X vs {p:.2f} X",
            )
        )
    for j, k, limit in ((1, 5, 1.0), (2, 5, 1.0), (2, 2, TWO_FOLD_TIME)):
        s, p = run["skmemmap", j, k]["seconds"], run["plain", j, k]["seconds"]
        checks.append(
            (
                f"folds={k} n_jobs={j}: time <= {limit:g} x plain's",
                s <= limit * p,
                f"{s:.1f} s vs {p:.1f} s ({s / p:.2f})",
            )
        )
    for j, k in ((1, 5), (2, 5), (2, 2)):
        s, p = run["skmemmap", j, k]["score"], run["plain", j, k]["score"]
        checks.append(
            (
                f"folds={k} n_jobs={j}: best score identical",
                s == p,
                f"{s!r} vs {p!r}",
            )
        )
    return checks


def headline(results):
    """The one number the docs quote: 5 folds, n_jobs=2, X-proportional committed."""
    run = {(r["mode"], r["n_jobs"], r["folds"]): r for r in results["runs"]}
    n, d = results["shape"]
    plain_x = committed(run["plain", 2, 5], xprop=True)
    skm_x = committed(run["skmemmap", 2, 5], xprop=True)
    return {
        "workload": f"{WORKLOADS[WORKLOAD]} (cv=5, n_jobs=2), X = {n:,} x {d} "
        f"float64 ({results['x_nbytes'] / 2**20:.0f} MB)",
        "measure": "X-proportional committed extra: peak anonymous memory of the "
        "process tree plus its /dev/shm files (none for skmemmap), the search at "
        "full size minus the same at "
        f"{results['baseline_rows']:,} rows, in copies of X",
        "plain_x": round(plain_x, 3),
        "skmemmap_x": round(skm_x, 3),
        "ratio": round(plain_x / skm_x, 1) if skm_x > 0 else None,
        "command": COMMAND
        + ("" if n == 100_000 else f" --n-samples {n}")
        + ("" if d == 400 else f" --n-features {d}"),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n-samples", type=int, default=100_000)
    parser.add_argument("--n-features", type=int, default=400)
    parser.add_argument(
        "--json", default=os.path.join(ROOT, "doc", "_static", "kfold_memory.json")
    )
    parser.add_argument(
        "--headline", default=os.path.join(ROOT, "doc", "_static", "headline.json")
    )
    parser.add_argument("--folder", default=None)
    parser.add_argument(
        "--from-json",
        metavar="FILE",
        default=None,
        help="check and report results measured before, instead of measuring",
    )
    args = parser.parse_args(argv)
    exit_on_sigterm()
    results = saved_or_new_results(
        args.from_json,
        n_samples=args.n_samples,
        n_features=args.n_features,
        combos=COMBOS,
        folder=args.folder,
    )
    print(format_table(results))
    checks = check(results)
    results["checks"] = [
        {"target": name, "ok": bool(ok), "detail": detail}
        for name, ok, detail in checks
    ]
    with open(args.json, "w") as f:
        json.dump(results, f, indent=1)
    if args.headline:
        with open(args.headline, "w") as f:
            json.dump(headline(results), f, indent=1)
            f.write("\n")
    return report_checks(checks)


if __name__ == "__main__":
    sys.exit(main())
