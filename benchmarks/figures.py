"""Draw the Performance page's figures and tables from the measured JSON.

    python benchmarks/figures.py

Reads, in ``doc/_static`` (each written by the command in brackets):

* ``bench.json`` (``python -m skmemmap bench --json doc/_static/bench.json``)
  -> ``bench.png`` (peak memory in copies of X, every workload x n_jobs x
  folds) and ``bench_table.txt``;
* ``bench_folds.json`` (``python -m skmemmap bench --workloads rf --n-jobs 2
  --folds 2,3,4,5,6,7,8,9,10 --json doc/_static/bench_folds.json``)
  -> ``kfold.png`` (memory and disk against k) and ``bench_folds_table.txt``
  (from ``bench.json``'s folds if this file is missing);
* ``kfold_memory.json`` (``python benchmarks/kfold_memory.py``)
  -> ``kfold_memory.txt`` (its table and PASS/FAIL lines).

A missing JSON file is skipped with a note.
"""

import json
import os
import sys

try:
    import skmemmap  # noqa: F401
except ImportError:  # run from a source checkout without installing
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from skmemmap._bench import format_table, plot_kfold, plot_results

STATIC = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "doc", "_static"
)


def _load(name):
    path = os.path.join(STATIC, name)
    if not os.path.exists(path):
        print(f"skipped: {path} does not exist", file=sys.stderr)
        return None
    with open(path) as f:
        return json.load(f)


def _write(name, text):
    with open(os.path.join(STATIC, name), "w") as f:
        f.write(text.rstrip() + "\n")
    print(f"wrote doc/_static/{name}")


def main():
    bench = _load("bench.json")
    if bench is not None:
        plot_results(bench, os.path.join(STATIC, "bench.png"))
        _write("bench_table.txt", format_table(bench))
        print("wrote doc/_static/bench.png")
    folds = _load("bench_folds.json")
    if folds is not None:
        _write("bench_folds_table.txt", format_table(folds))
    folds = folds or bench  # else k = 2, 5, 10 from bench.json
    if folds is not None:
        plot_kfold(folds, os.path.join(STATIC, "kfold.png"))
        print("wrote doc/_static/kfold.png")
    kfold = _load("kfold_memory.json")
    if kfold is not None:
        checks = [
            f"{'PASS' if c['ok'] else 'FAIL'}  {c['target']}: {c['detail']}"
            for c in kfold.get("checks", [])
        ]
        _write("kfold_memory.txt", "\n".join([format_table(kfold), "", *checks]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
