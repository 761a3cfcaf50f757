"""References that outlive their file say so; references to users' files work."""

import os
import pickle
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import joblib
import numpy as np
import pytest

import skmemmap

ROOT = str(Path(skmemmap.__file__).resolve().parent.parent)


def run(code, **env):
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=dict(os.environ, PYTHONPATH=ROOT, **env),
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done


def test_reference_to_a_temporary_file_after_its_process_exited(tmp_path, skm_folder):
    saved = tmp_path / "X.joblib"
    made = run(
        f"""
        import os, warnings, joblib, numpy as np, skmemmap
        X = skmemmap.memmap(np.arange(12.0).reshape(6, 2))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            joblib.dump(X, {str(saved)!r})
        print(os.getpid(), X.filename)
        print(len(caught), caught[0].category.__name__)
        print(caught[0].filename)
        """
    )
    assert made.returncode == 0, made.stderr
    (pid, filename), warned, where = (line.split() for line in made.stdout.splitlines())
    assert warned == ["1", "TemporaryFileWarning"]
    assert where == ["<string>"]  # points at the user's joblib.dump call
    assert os.path.getsize(saved) < 1000  # a reference, not the data
    assert not os.path.exists(filename)  # removed when its process exited

    loaded = run(f"import joblib; joblib.load({str(saved)!r})")
    assert loaded.returncode == 1
    last = loaded.stderr.strip().splitlines()[-1]
    assert last.startswith("FileNotFoundError")
    assert filename in last
    assert f"temporary file of process {pid}, which has exited" in last
    assert "np.save('X.npy', X)" in last and "skmemmap.load('X.npy')" in last
    assert "shared filesystem" not in last  # not the cause here


def test_reference_to_a_users_file_works_in_a_later_process(tmp_path, user_file):
    path = user_file(np.arange(12.0).reshape(6, 2))
    saved = tmp_path / "X.joblib"
    made = run(
        f"""
        import warnings, joblib, skmemmap
        warnings.simplefilter("error")
        X = skmemmap.load({str(path)!r})
        joblib.dump(X[1:4], {str(saved)!r})
        """
    )
    assert made.returncode == 0, made.stderr
    loaded = run(
        f"""
        import joblib, numpy as np, skmemmap
        X = joblib.load({str(saved)!r})
        print(skmemmap.is_memmap_view(X), X.filename, X.sum())
        """
    )
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.split() == ["True", str(path), str(np.arange(2.0, 8.0).sum())]


def test_worker_transports_do_not_warn(skm_folder):
    X = skmemmap.memmap(np.ones((100, 3)))
    with warnings.catch_warnings():
        warnings.simplefilter("error", skmemmap.TemporaryFileWarning)
        assert pickle.loads(pickle.dumps(X[1:5])).shape == (4, 3)
        out = joblib.Parallel(n_jobs=2)(joblib.delayed(np.sum)(X[i:]) for i in (0, 50))
    assert out == [300.0, 150.0]


def test_every_joblib_dump_of_a_reference_warns_once(tmp_path, skm_folder):
    X = skmemmap.memmap(np.ones((10, 3)))
    dumps = {
        "a": X,
        "b": X[2:],  # a view of a file warned about already
        "c": X,  # the same array again
        "d": {"X": X, "view": X[1:4], "again": X[5:]},  # one dump, 3 references
    }
    with pytest.warns(skmemmap.TemporaryFileWarning, match="np.save") as caught:
        for name, value in dumps.items():
            joblib.dump(value, tmp_path / f"{name}.joblib")
    assert len(caught) == len(dumps)
    assert {w.filename for w in caught} == {__file__}  # the user's dump line
    assert all(X.filename in str(w.message) for w in caught)
