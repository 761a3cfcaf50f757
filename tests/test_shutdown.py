"""SIGTERM and SIGINT during a search leave no file and no worker behind."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

import skmemmap

IMPORT_ROOT = str(Path(skmemmap.__file__).resolve().parent.parent)

# A user's script: a 2-fold search with 2 loky workers on a mapped X. Each fit
# maps an array of its own (so the workers have skmemmap folders too), records
# its SIGTERM disposition, says it started, then runs until stopped.
SCRIPT = """
import os, signal, sys, time
import numpy as np, skmemmap
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import GridSearchCV

class Slow(ClassifierMixin, BaseEstimator):
    def __init__(self, c=0):
        self.c = c

    def fit(self, X, y):
        own = skmemmap.memmap(np.asarray(X[:10]))
        default = signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
        with open(os.path.join({started!r}, str(os.getpid())), "w") as f:
            f.write(str(default))
        time.sleep(300)
        return self

X = skmemmap.memmap(np.ones((1000, 4)))
print(os.path.dirname(X.filename), flush=True)
search = GridSearchCV(Slow(), {{"c": [0, 1]}}, cv=skmemmap.ContiguousKFold(2), n_jobs=2)
search.fit(X, np.arange(1000) % 2)
"""


def _wait_for(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def _default_signals():
    # A user's script starts with SIGTERM and SIGINT at their defaults (Python
    # then raises KeyboardInterrupt on SIGINT), even where the test runner was
    # started in the background (`cmd &`), which ignores SIGINT in children.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, signal.SIG_DFL)


def _start(code, base, preexec_fn=_default_signals, **kwargs):
    env = dict(os.environ, SKMEMMAP_FOLDER=str(base), PYTHONPATH=IMPORT_ROOT)
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=preexec_fn,
        **kwargs,
    )


@pytest.mark.parametrize(
    "signum, status",
    [
        (signal.SIGTERM, -signal.SIGTERM),  # killed by it, as by default
        (signal.SIGINT, -signal.SIGINT),  # KeyboardInterrupt, not caught
    ],
    ids=["SIGTERM", "SIGINT"],
)
def test_signal_during_a_search_leaves_no_file_and_no_worker(
    tmp_path, skm_folder, signum, status
):
    started = tmp_path / "started"
    started.mkdir()
    code = textwrap.dedent(SCRIPT).format(started=str(started))
    with open(tmp_path / "stderr", "w+") as stderr:
        proc = _start(code, skm_folder, stderr=stderr)
        workers = []
        try:
            folder = Path(proc.stdout.readline().strip())
            assert folder.parent == skm_folder
            _wait_for(lambda: len(os.listdir(started)) == 2, 120, "both fits")
            workers = psutil.Process(proc.pid).children(recursive=True)
            assert len(workers) >= 2
            assert len(list(skm_folder.glob("skmemmap-*"))) == 3  # parent's, 2 workers'

            proc.send_signal(signum)
            assert proc.wait(timeout=60) == status
            _, alive = psutil.wait_procs(workers, timeout=10)
            assert alive == []
        finally:
            for p in workers:
                if p.is_running():
                    p.kill()
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            proc.stdout.close()
        stderr.seek(0)
        err = stderr.read()
    assert ("KeyboardInterrupt" in err) == (signum == signal.SIGINT)
    # No handler of ours in the workers: loky's termination stays immediate.
    assert {p.read_text() for p in started.iterdir()} == {"True"}
    assert not folder.exists()
    assert list(skm_folder.iterdir()) == []  # the workers' folders too


def test_a_users_handler_is_kept_and_decides(skm_folder):
    proc = _start(
        """
        import os, signal, sys, numpy as np, skmemmap

        def on_term(signum, frame):
            sys.exit(7)

        signal.signal(signal.SIGTERM, on_term)
        X = skmemmap.memmap(np.ones((10, 2)))
        print(os.path.dirname(X.filename), signal.getsignal(signal.SIGTERM) is on_term)
        print(signal.getsignal(signal.SIGINT) is signal.default_int_handler, flush=True)
        os.kill(os.getpid(), signal.SIGTERM)
        """,
        skm_folder,
    )
    out, _ = proc.communicate(timeout=60)
    folder, kept, int_kept = out.split()
    assert proc.returncode == 7  # the user's sys.exit(7)
    assert kept == int_kept == "True"
    assert not os.path.exists(folder)  # removed at exit, as sys.exit unwinds


def test_an_ignored_signal_stays_ignored(skm_folder):
    def ignore_int():
        _default_signals()
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # as `nohup cmd &` does

    proc = _start(
        """
        import os, signal, numpy as np, skmemmap
        X = skmemmap.memmap(np.ones((10, 2)))
        print(os.path.dirname(X.filename))
        print(signal.getsignal(signal.SIGINT) is signal.SIG_IGN, flush=True)
        os.kill(os.getpid(), signal.SIGINT)  # ignored: the script goes on
        print("after", flush=True)
        """,
        skm_folder,
        preexec_fn=ignore_int,
    )
    out, _ = proc.communicate(timeout=60)
    folder, ignored, after = out.split()
    assert proc.returncode == 0
    assert (ignored, after) == ("True", "after")
    assert not os.path.exists(folder)  # removed at exit as usual
