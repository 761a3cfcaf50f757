"""StreamingEstimator against the hand-written chunk loop, under a memory limit.

X is written as chunk files of 36,000 x 250 float64 (72 MB each, the layout
of issue 18) totalling ``--times`` x the limit. Each case runs in a fresh
process inside a fresh memory cgroup (v1, needs root) with the page cache
dropped first, and fits SGDClassifier (``--estimator pipeline``: StandardScaler,
one pass, then SGDClassifier) with ``--passes`` passes:

* ``loop``: ``np.load`` one chunk, ``partial_fit``, drop it (the reference);
* ``streaming``: ``StreamingEstimator(..., shuffle_blocks=False)`` over the
  chunk list, with the read-ahead/unmap advice (``MADV_WILLNEED`` on the next
  block, ``MADV_DONTNEED`` on a finished one);
* ``streaming-no-advice``: the same without it.

Printed per case: wall time, peak anonymous memory of the process (RssAnon,
sampled every 10 ms), peak RSS (VmHWM, file pages included), major page
faults, and the cgroup's peak charge (page cache included).

    sudo python benchmarks/streaming_pages.py [--limit-mb 400] [--times 3] [--passes 3]
        [--estimator sgd|pipeline] [--repeat 2]
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

CGROUP_ROOT = "/sys/fs/cgroup/memory"
ROWS, COLS = 36_000, 250

CHILD = r"""
import json, os, resource, sys, threading, time, warnings
import numpy as np
from sklearn.linear_model import SGDClassifier

def status(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    return 0

case, folder, passes, which = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
def make():
    if which == "pipeline":
        return make_pipeline(StandardScaler(), SGDClassifier(random_state=0))
    return SGDClassifier(random_state=0)
xs = sorted(p for p in os.listdir(folder) if p.startswith("x_"))
xs = [os.path.join(folder, p) for p in sorted(xs, key=lambda p: int(p[2:-4]))]
ys = [p.replace("/x_", "/y_") for p in xs]
peak = [status("RssAnon")]
base = peak[0]
done = threading.Event()
def sample():
    while not done.is_set():
        peak[0] = max(peak[0], status("RssAnon")); time.sleep(0.01)
threading.Thread(target=sample, daemon=True).start()
t0 = time.perf_counter()
if case == "loop":
    est = make()
    scaler = None
    if which == "pipeline":
        scaler, est = est[0], est[-1]
        for xp in xs:
            scaler.partial_fit(np.load(xp))
    for _ in range(passes):
        for xp, yp in zip(xs, ys):
            X = np.load(xp)
            X = X if scaler is None else scaler.transform(X)
            est.partial_fit(X, np.load(yp), classes=[0, 1])
            del X
    coef = est.coef_
else:
    import skmemmap
    from skmemmap import _streaming
    _streaming._ADVISE = case == "streaming"
    X, y = skmemmap.load(xs), skmemmap.load(ys)  # chunk lists, opened in place
    model = skmemmap.StreamingEstimator(make(), n_passes=passes, shuffle_blocks=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, y)
    coef = (model.estimator_[-1] if which == "pipeline" else model.estimator_).coef_
seconds = time.perf_counter() - t0
done.set()
usage = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({
    "seconds": seconds,
    "anon_mb": (peak[0] - base) / 2**20,
    "hwm_mb": status("VmHWM") / 2**20,
    "major_faults": usage.ru_majflt,
    "coef_sum": float(np.sum(coef)),
}))
"""


def _write_chunks(folder, n_chunks):
    rng = np.random.default_rng(0)
    w = rng.standard_normal(COLS)
    for i in range(n_chunks):
        X = rng.standard_normal((ROWS, COLS))
        np.save(os.path.join(folder, f"x_{i}.npy"), X)
        np.save(os.path.join(folder, f"y_{i}.npy"), (X @ w > 0).astype(np.int64))


def _drop_caches():
    subprocess.run(["sync"], check=True)
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


def _run(case, folder, passes, limit, which):
    group = os.path.join(CGROUP_ROOT, f"skmemmap-streaming-{os.getpid()}-{case}")
    os.mkdir(group)
    try:
        with open(os.path.join(group, "memory.limit_in_bytes"), "w") as f:
            f.write(str(limit))

        def enter():
            with open(os.path.join(group, "cgroup.procs"), "w") as f:
                f.write(str(os.getpid()))

        _drop_caches()
        env = dict(os.environ)
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (root, env.get("PYTHONPATH")) if p
        )
        start = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-c", CHILD, case, folder, str(passes), which],
            capture_output=True,
            text=True,
            preexec_fn=enter,
            env=env,
            check=False,
        )
        wall = time.perf_counter() - start
        with open(os.path.join(group, "memory.max_usage_in_bytes")) as f:
            charged = int(f.read()) / 2**20
        if proc.returncode != 0:
            return {
                "case": case,
                "error": proc.returncode,
                "wall": wall,
                "stderr": proc.stderr[-500:],
            }
        row = json.loads(proc.stdout.strip().splitlines()[-1])
        return {"case": case, **row, "wall": wall, "cgroup_peak_mb": charged}
    finally:
        for _ in range(50):
            try:
                os.rmdir(group)
                break
            except OSError:
                time.sleep(0.1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit-mb", type=int, default=300)
    parser.add_argument("--times", type=float, default=3.0)
    parser.add_argument("--passes", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument(
        "--estimator",
        choices=["sgd", "pipeline"],
        default="sgd",
        help="SGDClassifier, or StandardScaler -> SGDClassifier",
    )
    parser.add_argument(
        "--cases",
        default="loop,streaming,streaming-no-advice",
        help="comma-separated cases",
    )
    args = parser.parse_args()
    limit = args.limit_mb * 2**20
    chunk_bytes = ROWS * COLS * 8
    n_chunks = max(1, round(args.times * limit / chunk_bytes))
    folder = tempfile.mkdtemp(prefix="skmemmap-streaming-bench-", dir="/var/tmp")
    try:
        _write_chunks(folder, n_chunks)
        print(
            f"X: {n_chunks} chunks of {ROWS} x {COLS} float64, "
            f"{n_chunks * chunk_bytes / 2**20:,.0f} MB; limit {args.limit_mb} MB; "
            f"{args.passes} passes of "
            f"{'StandardScaler -> ' if args.estimator == 'pipeline' else ''}"
            f"SGDClassifier"
        )
        print(
            f"{'case':<22}{'wall s':>8}{'fit s':>8}{'anon MB':>9}{'HWM MB':>8}"
            f"{'majflt':>8}{'cgroup MB':>10}"
        )
        for _ in range(args.repeat):
            for case in args.cases.split(","):
                r = _run(case, folder, args.passes, limit, args.estimator)
                if "error" in r:
                    print(f"{case:<22} exit {r['error']}: {r['stderr']}")
                    continue
                print(
                    f"{case:<22}{r['wall']:8.1f}{r['seconds']:8.1f}{r['anon_mb']:9.0f}"
                    f"{r['hwm_mb']:8.0f}{r['major_faults']:8d}"
                    f"{r['cgroup_peak_mb']:10.0f}   coef sum {r['coef_sum']:.6g}"
                )
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
