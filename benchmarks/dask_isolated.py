"""A dask scheduler process and two workers, as on separate machines.

    python benchmarks/dask_isolated.py            # workers isolated: distribute
    python benchmarks/dask_isolated.py --shared   # a shared filesystem
    python benchmarks/dask_isolated.py --plain    # shared, in-memory X (reference)

Isolated workers run in their own mount namespace with an empty tmpfs over
the skmemmap base folder (``unshare --mount``: run as root), so they cannot
see the client's files; ``skmemmap.distribute`` sends them X. Prints the time
``distribute`` takes for a 102 MB X, and the scheduler's RSS and the number
of ``.npy`` files it maps before and after a GridSearchCV on joblib's dask
backend.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

try:
    import skmemmap
except ImportError:  # run from a source checkout without installing
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import skmemmap

import distributed
import joblib
import numpy as np
from sklearn.linear_model import SGDClassifier
from sklearn.model_selection import GridSearchCV, KFold

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(skmemmap.__file__)))


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) // 1024
    return None


def npy_maps(pid):
    with open(f"/proc/{pid}/maps") as f:
        return sum(".npy" in line for line in f)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", action="store_true")
    parser.add_argument("--plain", action="store_true")
    args = parser.parse_args()
    isolate = not (args.shared or args.plain)
    work = tempfile.mkdtemp(prefix="skm-bench-")
    base = os.path.join(work, "base")
    os.mkdir(base)
    scheduler_file = os.path.join(work, "scheduler.json")
    env = dict(os.environ, PYTHONPATH=ROOT, SKMEMMAP_FOLDER=base)
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "distributed.cli.dask_scheduler",
                "--scheduler-file",
                scheduler_file,
                "--no-dashboard",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
            ],
            env=env,
            **quiet,
        )
    ]
    try:
        while not os.path.exists(scheduler_file):
            time.sleep(0.2)
        time.sleep(0.5)
        with open(scheduler_file) as f:
            address = json.load(f)["address"]
        cmd = (
            f"{sys.executable} -m distributed.cli.dask_worker {address} --no-nanny "
            f"--nthreads 1 --no-dashboard --memory-limit 0 --host 127.0.0.1"
        )
        prefix = []
        if isolate:
            cmd = f"mount -t tmpfs -o size=1g tmpfs {base} && exec {cmd}"
            prefix = ["unshare", "--mount", "--propagation", "private"]
        for _ in range(2):
            procs.append(subprocess.Popen([*prefix, "sh", "-c", cmd], env=env, **quiet))
        with distributed.Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=60)
            rng = np.random.default_rng(0)
            X = rng.standard_normal((200_000, 64))  # 102 MB
            if not args.plain:
                X = skmemmap.memmap(X, folder=base)
            y = (X[:, 0] > 0).astype(int)
            scheduler = procs[0].pid
            print(f"scheduler RSS before: {rss_mib(scheduler)} MiB")
            if isolate:
                start = time.perf_counter()
                skmemmap.distribute(X, client)
                print(
                    f"distribute: {X.nbytes / 1e6:.0f} MB to 2 workers in "
                    f"{time.perf_counter() - start:.1f} s"
                )
            search = GridSearchCV(
                SGDClassifier(max_iter=5, tol=None),
                {"alpha": [1e-4, 1e-3]},
                cv=KFold(2),
                n_jobs=2,
            )
            with joblib.parallel_config(backend="dask"):
                search.fit(X, y)
            time.sleep(1)
            print(
                f"scheduler RSS after: {rss_mib(scheduler)} MiB, "
                f".npy files mapped: {npy_maps(scheduler)}"
            )
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait()


if __name__ == "__main__":
    main()
