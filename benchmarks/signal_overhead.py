"""What the copy signal's end-of-call hook costs a search run in this process.

The hook that sees a call return is a trace function on one frame, which
puts CPython (3.10, 3.11) in tracing mode for the rest of the call: a cost
per Python-level operation, not per byte of X. So a call is traced only once
it has a copy to report in this process, or dispatches tasks to worker
processes (whose wait costs nothing). Printed: the CPU time (best of 5) of a
search that copies nothing, GridSearchCV(MemmapEstimator(
DecisionTreeClassifier)), 120 fits on 2,000 rows, n_jobs=1, with the
copy signal's hooks and with them disabled. (Traced from the start, the
same search took 1.66x the CPU time.)

    python benchmarks/signal_overhead.py
"""

import subprocess
import sys

CHILD = r"""
import sys, time
import numpy as np
from sklearn.model_selection import GridSearchCV
from sklearn.tree import DecisionTreeClassifier
import skmemmap
import skmemmap._estimator as estimator_module
import skmemmap._signal.calls as calls

rng = np.random.default_rng(0)
X = skmemmap.memmap(rng.standard_normal((2000, 10)).astype(np.float32), order="F")
y = (X[:, 0] > 0).astype(int)
if sys.argv[1] == "off":
    calls.begin_call = estimator_module.begin_call = lambda trace=True: None


def run():
    search = GridSearchCV(
        skmemmap.MemmapEstimator(DecisionTreeClassifier(max_depth=3)),
        {"estimator__min_samples_leaf": list(range(1, 61))},
        cv=skmemmap.ContiguousKFold(2),
    )
    start = time.process_time()
    search.fit(X, y)
    return time.process_time() - start


run()
print(min(run() for _ in range(5)))
"""


def main():
    times = {}
    for mode in ("on", "off"):
        out = subprocess.run(
            [sys.executable, "-c", CHILD, mode],
            capture_output=True,
            text=True,
            check=True,
        )
        times[mode] = float(out.stdout)
    print(f"Python {sys.version.split()[0]}: 120 fits in this process")
    print(f"  hook on : {times['on']:.2f} s CPU")
    ratio = times["on"] / times["off"]
    print(f"  hook off: {times['off']:.2f} s CPU  (on/off = {ratio:.2f})")


if __name__ == "__main__":
    main()
