"""Convert in-memory X in memory or into a file? The measurement behind the default.

A single fit on in-memory X that the estimator must convert (float64 X for a
forest, which reads float32) either converts in memory (``max_nbytes=None``:
the estimator's own ``check_array`` copy, private memory) or into a file
(``max_nbytes="1M"``, the default: page cache the kernel can reclaim). Each
way runs in a fresh process; printed: wall time of the fit and the peak
growth of the process's anonymous memory (RssAnon, sampled every ms).

    python benchmarks/convert_memory_or_file.py [--n-samples N] [--n-features P]
"""

import argparse
import json
import subprocess
import sys

CHILD = r"""
import json, sys, threading, time
import numpy as np
from sklearn.ensemble import RandomForestClassifier
import skmemmap

def anon():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) * 1024

n, p, max_nbytes = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
X = np.random.default_rng(0).standard_normal((n, p))
y = (X[:, 0] > 0).astype(int)
model = skmemmap.MemmapEstimator(
    RandomForestClassifier(n_estimators=1, max_depth=2, random_state=0),
    max_nbytes=None if max_nbytes == "None" else max_nbytes,
)
start = anon(); peak = [start]; done = threading.Event()
def sample():
    while not done.is_set():
        peak[0] = max(peak[0], anon()); time.sleep(0.001)
t = threading.Thread(target=sample); t.start()
t0 = time.perf_counter()
import warnings
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    model.fit(X, y)
elapsed = time.perf_counter() - t0
done.set(); t.join()
print(json.dumps({"seconds": elapsed, "anon_mb": (peak[0] - start) / 2**20,
                  "x_mb": X.nbytes / 2**20}))
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-samples", type=int, default=400_000)
    parser.add_argument("--n-features", type=int, default=100)
    args = parser.parse_args()
    rows = []
    for label, max_nbytes in (("in memory", "None"), ("into a file", "1M")):
        out = subprocess.run(
            [
                sys.executable,
                "-c",
                CHILD,
                str(args.n_samples),
                str(args.n_features),
                max_nbytes,
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        rows.append((label, json.loads(out.stdout)))
    x_mb = rows[0][1]["x_mb"]
    print(f"X: {args.n_samples:,} x {args.n_features} float64, {x_mb:,.0f} MB")
    print(f"{'conversion':<12} {'fit s':>7} {'anon MB':>8} {'anon xX':>8}")
    for label, r in rows:
        print(
            f"{label:<12} {r['seconds']:>7.2f} {r['anon_mb']:>8.0f} "
            f"{r['anon_mb'] / x_mb:>8.2f}"
        )


if __name__ == "__main__":
    main()
