"""Soak test: many consecutive small searches leak neither files nor memory.

    python benchmarks/soak.py                  # 200 searches
    python benchmarks/soak.py --searches 500 --every 50

Runs GridSearchCV(MemmapEstimator(RandomForestClassifier), 2 candidates,
ContiguousKFold(3), n_jobs=2) over and over, each time on a new MemmapArray
(written by skmemmap.memmap, converted to the forest's layout in a sibling
file, middle training folds gathered into files by the workers), then drops
it. Prints the files in the folder and the process's memory (RSS, RssAnon)
every ``--every`` searches, and a verdict:

* the folder holds no ``.npy`` or temporary file after each search has
  released its arrays (the live process keeps its ``.owner`` and ``.lock``
  files, and its copy log, until it exits);
* RssAnon after the warm-up grows by less than MAX_GROWTH_MB over the run.

Exits 1 if either fails. Not part of the test suite (it takes minutes).
"""

import argparse
import gc
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

# Run from a checkout without installing: the package is next to this folder.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import GridSearchCV

import skmemmap

# A leak of one 8 kB buffer per search would add 1.6 MB over 200 searches;
# allocator noise (arena fragmentation, loky's result buffers) stays well
# below 10 MB once warm, measured on a 2-core machine.
MAX_GROWTH_MB = 10
# The first searches import modules, start loky workers and warm caches.
WARMUP = 20


def memory():
    """(RSS, RssAnon) of this process in MB, from /proc."""
    values = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "RssAnon"):
                values[key] = int(rest.split()[0]) / 1024
    return values["VmRSS"], values["RssAnon"]


def data_files(folder):
    return sorted(
        os.path.join(root, name)
        for root, _, names in os.walk(folder)
        for name in names
        if name.endswith(".npy") or name.startswith(".tmp-")
    )


def one_search(seed, folder):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((2000, 10))
    y = (X[:, 0] + 0.3 * rng.standard_normal(2000) > 0).astype(int)
    X_mm = skmemmap.memmap(X, folder=folder)
    search = GridSearchCV(
        skmemmap.MemmapEstimator(
            RandomForestClassifier(n_estimators=5, random_state=0), folder=folder
        ),
        {"estimator__max_depth": [3, 5]},
        cv=skmemmap.ContiguousKFold(3),
        n_jobs=2,
    )
    with skmemmap.config_context(gather_nbytes=0):
        search.fit(X_mm, y)
    return search.best_score_


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--searches", type=int, default=200)
    parser.add_argument("--every", type=int, default=20)
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore", skmemmap.CopyWarning)
    base = tempfile.mkdtemp(prefix="skmemmap-soak-")
    start = time.perf_counter()
    leftover_counts, readings = [], []
    print(f"{'search':>6} {'files':>5} {'RSS MB':>8} {'anon MB':>8} {'s':>6}")
    for i in range(1, args.searches + 1):
        one_search(i, base)
        gc.collect()
        leftover_counts.append(len(data_files(base)))
        if i == WARMUP or i % args.every == 0 or i == args.searches:
            rss, anon = memory()
            readings.append((i, rss, anon))
            print(
                f"{i:>6} {leftover_counts[-1]:>5} {rss:>8.1f} {anon:>8.1f} "
                f"{time.perf_counter() - start:>6.1f}",
                flush=True,
            )
    warm = [r for r in readings if r[0] >= min(WARMUP, args.searches)]
    growth = warm[-1][2] - warm[0][2]
    failures = []
    if any(leftover_counts):
        first = next(i for i, n in enumerate(leftover_counts, 1) if n)
        failures.append(
            f"files left in the folder after search {first}: {data_files(base)[:5]}"
        )
    if growth >= MAX_GROWTH_MB:
        failures.append(
            f"RssAnon grew by {growth:.1f} MB from search {warm[0][0]} to "
            f"{warm[-1][0]} (limit {MAX_GROWTH_MB} MB)"
        )
    print(
        f"{args.searches} searches in {time.perf_counter() - start:.0f} s; max data "
        f"files left after a search: {max(leftover_counts)}; RssAnon growth after "
        f"warm-up: {growth:+.1f} MB (limit {MAX_GROWTH_MB} MB)"
    )
    print("FAIL: " + "; ".join(failures) if failures else "PASS")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
