"""What the copy signal's end-of-call hook costs a search run in this process.

Printed: the CPU time (best of 5) of a search that copies nothing,
GridSearchCV(MemmapEstimator(DecisionTreeClassifier)), 120 fits on 2,000
rows, n_jobs=1, in three modes:

* ``on``: as shipped. On CPython 3.12+ the hook is ``sys.monitoring``
  (PY_RETURN on the one entry code object), watching every call from its
  start. On 3.11 it is a trace function on one frame, which puts
  CPython in tracing mode for the rest of the call, a cost per Python-level
  operation: a call is traced only once it has a copy to report in this
  process or dispatches tasks to worker processes (whose wait costs nothing).
* ``settrace``: the trace hook on every call from its start (what 3.12+
  would pay without ``sys.monitoring``, and 3.11 if every call were
  traced).
* ``off``: the copy signal's hooks disabled.

    python benchmarks/signal_overhead.py   # about a minute; run it with each Python
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
elif sys.argv[1] == "settrace":
    calls._MONITOR.TOOL_IDS = ()  # no tool id: the trace hook stands in
    calls._TRACER.cheap = True  # and watches every call from its start


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

MODES = ("on", "settrace", "off")


def main():
    times = {}
    for mode in MODES:
        out = subprocess.run(
            [sys.executable, "-c", CHILD, mode],
            capture_output=True,
            text=True,
            check=False,
        )
        if out.returncode:
            sys.exit(f"The {mode!r} run failed:\n{out.stderr[-3000:]}")
        times[mode] = float(out.stdout)
    hook = "sys.monitoring" if sys.version_info >= (3, 12) else "settrace, when needed"
    print(f"Python {sys.version.split()[0]}: 120 fits in this process, CPU time")
    for mode, what in (
        ("on", f"as shipped ({hook})"),
        ("settrace", "settrace on every call"),
        ("off", "hooks off"),
    ):
        ratio = times[mode] / times["off"]
        print(f"  {what:<34} {times[mode]:6.2f} s  ({ratio:.2f}x hooks off)")


if __name__ == "__main__":
    main()
