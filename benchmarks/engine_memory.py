"""Memory that each engine's own processes cost, with no data in them.

    python benchmarks/engine_memory.py ray
    python benchmarks/engine_memory.py dask

Starts the engine as a scikit-learn user would on one machine with 2 CPUs
(Ray: ``ray.init(num_cpus=2, include_dashboard=False)``; dask: a
``LocalCluster(n_workers=2, threads_per_worker=1, processes=True)`` without
dashboard), runs a tiny GridSearchCV on joblib's backend for that engine so
that the workers are warm (scikit-learn imported), and prints the RSS, PSS
and USS (private memory) summed over every process the engine started:
Ray's GCS server, raylet, agents and workers; dask's scheduler (in this
process for a LocalCluster, so not counted) and worker processes. Needs psutil.
"""

import os
import sys
import time

import psutil

try:
    import skmemmap
except ImportError:  # run from a source checkout without installing
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import skmemmap

import joblib
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV


def tree_memory(exclude):
    rss = pss = uss = n = 0
    for child in psutil.Process().children(recursive=True):
        if child.pid in exclude:
            continue
        try:
            info = child.memory_full_info()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        rss, pss, uss, n = rss + info.rss, pss + info.pss, uss + info.uss, n + 1
    return n, rss, pss, uss


def search():
    rng = np.random.default_rng(0)
    X = skmemmap.memmap(rng.standard_normal((1000, 5)))
    y = (X[:, 0] > 0).astype(int)
    GridSearchCV(LogisticRegression(), {"C": [0.1, 1.0]}, cv=2, n_jobs=2).fit(X, y)


def main(engine):
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    if engine == "ray":
        import ray
        from ray.util.joblib import register_ray

        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        register_ray()
        stop = ray.shutdown
    else:
        from distributed import Client, LocalCluster

        cluster = LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        )
        client = Client(cluster)

        def stop():
            client.close()
            cluster.close()

    try:
        with joblib.parallel_config(backend=engine):
            search()
        time.sleep(2)
        n, rss, pss, uss = tree_memory(before)
        mb = 2**20
        print(
            f"{engine}: {n} processes, RSS {rss / mb:.0f} MiB, PSS {pss / mb:.0f} MiB, "
            f"USS {uss / mb:.0f} MiB"
        )
    finally:
        stop()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "ray")
