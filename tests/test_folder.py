"""Where skmemmap writes, with which permissions, and when it deletes."""

import errno
import gc
import io
import json
import os
import signal
import stat
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from _helpers import folder_files, session_dirs

import skmemmap
from skmemmap import NotEnoughDiskSpaceError, _folder

# The directory skmemmap is imported from, for the subprocesses.
IMPORT_ROOT = str(Path(skmemmap.__file__).resolve().parent.parent)


def run_python(code, base, **kwargs):
    """Start ``code`` in a fresh interpreter using ``base`` as $SKMEMMAP_FOLDER."""
    env = dict(os.environ, SKMEMMAP_FOLDER=str(base))
    env["PYTHONPATH"] = os.pathsep.join(
        [IMPORT_ROOT, *filter(None, [env.get("PYTHONPATH")])]
    )
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def stop(proc):
    """Kill ``proc`` if it still runs, reap it and close its pipes."""
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=60)
    for pipe in (proc.stdin, proc.stdout, proc.stderr):
        pipe.close()


def npy_nbytes(array):
    buf = io.BytesIO()
    np.save(buf, array)
    return len(buf.getvalue())


@pytest.fixture
def readonly_dir(tmp_path):
    """A directory nobody can create files in, root included (``chattr +i``)."""
    path = tmp_path / "readonly"
    path.mkdir()
    path.chmod(0o555)
    immutable = False
    if os.geteuid() == 0:  # root ignores permission bits
        done = subprocess.run(["chattr", "+i", str(path)], capture_output=True)
        if done.returncode != 0:
            path.chmod(0o755)
            pytest.skip("running as root without chattr: cannot make a read-only dir")
        immutable = True
    yield path
    if immutable:
        subprocess.run(["chattr", "-i", str(path)], check=True)
    path.chmod(0o755)


# -- where files go ----------------------------------------------------------------
def test_default_folder_is_private_under_the_temp_dir(tmp_path, monkeypatch):
    monkeypatch.delenv("SKMEMMAP_FOLDER", raising=False)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))

    X_mm = skmemmap.memmap(np.ones((5, 2)))

    path = Path(X_mm.filename)
    session = path.parent
    assert session.parent == tmp_path
    assert session.name.startswith(f"skmemmap-{os.getpid()}-")
    assert stat.S_IMODE(session.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.suffix == ".npy"
    assert session_dirs(tmp_path) == [session]


def test_default_folder_is_on_disk_not_in_shared_memory(monkeypatch):
    monkeypatch.delenv("SKMEMMAP_FOLDER", raising=False)
    X_mm = skmemmap.memmap(np.ones((5, 2)))
    assert X_mm.filename.startswith(os.path.realpath(tempfile.gettempdir()))
    assert not X_mm.filename.startswith("/dev/shm")


def test_env_var_and_folder_argument_override_the_default(tmp_path, skm_folder):
    from_env = skmemmap.memmap(np.ones((5, 2)))
    assert Path(from_env.filename).parent.parent == skm_folder

    explicit = tmp_path / "explicit"
    explicit.mkdir()
    from_arg = skmemmap.memmap(np.ones((5, 2)), folder=explicit)
    assert Path(from_arg.filename).parent.parent == explicit
    assert stat.S_IMODE(Path(from_arg.filename).parent.stat().st_mode) == 0o700

    chunks = skmemmap.load(
        [from_env.filename, from_env.filename], folder=explicit, consolidate=True
    )
    assert Path(chunks.filename).parent.parent == explicit
    np.testing.assert_array_equal(chunks, np.ones((10, 2)))


def test_missing_folder_raises_and_writes_nothing(tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(FileNotFoundError, match=r"nope.*does not exist"):
        skmemmap.memmap(np.ones((5, 2)), folder=missing)
    assert not missing.exists()
    assert list(tmp_path.iterdir()) == []


def test_missing_env_folder_raises(tmp_path, monkeypatch):
    monkeypatch.setenv("SKMEMMAP_FOLDER", str(tmp_path / "gone"))
    with pytest.raises(FileNotFoundError, match="SKMEMMAP_FOLDER"):
        skmemmap.memmap(np.ones((5, 2)))
    assert list(tmp_path.iterdir()) == []


def test_read_only_folder_raises_and_writes_nothing(readonly_dir):
    with pytest.raises(PermissionError, match=r"readonly.*not writable"):
        skmemmap.memmap(np.ones((5, 2)), folder=readonly_dir)
    assert list(readonly_dir.iterdir()) == []


# -- when files are deleted ------------------------------------------------------
def test_file_removed_with_its_last_array_not_before(skm_folder):
    X_mm = skmemmap.memmap(np.arange(20.0).reshape(10, 2))
    path = X_mm.filename
    fold = X_mm[np.arange(2, 6)]
    column = X_mm[:, 1]
    del X_mm
    gc.collect()
    assert os.path.exists(path)
    np.testing.assert_array_equal(fold, np.arange(20.0).reshape(10, 2)[2:6])

    del fold
    gc.collect()
    assert os.path.exists(path)  # the column is still a view of the file

    del column
    gc.collect()
    assert not os.path.exists(path)
    assert folder_files(skm_folder) == []


def test_plain_array_derived_from_a_view_keeps_nothing_alive(skm_folder):
    X_mm = skmemmap.memmap(np.arange(20.0).reshape(10, 2))
    path = X_mm.filename
    doubled = X_mm * 2
    del X_mm
    gc.collect()
    assert not os.path.exists(path)
    np.testing.assert_array_equal(doubled, np.arange(20.0).reshape(10, 2) * 2)


def test_derived_files_removed_with_their_root(skm_folder):
    X_mm = skmemmap.memmap(np.arange(20.0).reshape(10, 2))
    X32 = skmemmap.memmap(X_mm, dtype=np.float32, order="F")
    assert len(folder_files(skm_folder)) >= 2
    del X_mm, X32
    gc.collect()
    assert folder_files(skm_folder) == []


def test_user_file_is_never_deleted(user_file, skm_folder):
    path = user_file(np.arange(20.0).reshape(10, 2))
    X_mm = skmemmap.load(path)
    X32 = skmemmap.memmap(X_mm, dtype=np.float32)  # a derived file in the folder
    assert len(folder_files(skm_folder)) >= 1
    del X_mm, X32
    gc.collect()
    assert path.exists()  # and unchanged: checked by the fixture
    assert folder_files(skm_folder) == []


def test_folder_removed_at_interpreter_exit(skm_folder):
    proc = run_python(
        """
        import os, numpy as np, skmemmap
        X = skmemmap.memmap(np.ones((100, 3)))
        print(X.filename, flush=True)
        """,
        skm_folder,
    )
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    path = Path(out.strip())
    assert path.parent.parent == skm_folder
    assert path.parent.name.startswith(f"skmemmap-{proc.pid}-")
    assert not path.parent.exists()
    assert list(skm_folder.iterdir()) == []


def test_folder_of_killed_process_is_swept_live_one_is_not(skm_folder):
    code = """
        import os, sys, numpy as np, skmemmap
        X = skmemmap.memmap(np.ones((100, 3)))
        print(X.filename, flush=True)
        sys.stdin.read()  # live until the parent closes stdin, or kills us
        """
    dead, live = run_python(code, skm_folder), run_python(code, skm_folder)
    try:
        dead_file = Path(dead.stdout.readline().strip())
        live_file = Path(live.stdout.readline().strip())
        assert dead_file.exists() and live_file.exists()

        dead.send_signal(signal.SIGKILL)
        dead.wait(timeout=60)
        assert dead.returncode == -signal.SIGKILL
        assert dead_file.exists()  # nobody cleaned up after SIGKILL

        assert _folder.sweep(skm_folder) == [str(dead_file.parent)]
        assert not dead_file.parent.exists()
        assert live_file.exists()  # its owner holds the lock: not swept

        live.stdin.close()
        live.wait(timeout=60)
    finally:
        for proc in (dead, live):
            stop(proc)
    assert not live_file.parent.exists()  # removed by its owner at exit


def test_new_session_sweeps_orphans(skm_folder):
    proc = run_python(
        """
        import os, sys, numpy as np, skmemmap
        X = skmemmap.memmap(np.ones((100, 3)))
        print(X.filename, flush=True)
        os.kill(os.getpid(), 9)
        """,
        skm_folder,
    )
    out, _ = proc.communicate(timeout=60)
    orphan = Path(out.strip()).parent
    assert orphan.is_dir()

    mine = _folder.session_folder(skm_folder)

    assert not orphan.exists()
    assert session_dirs(skm_folder) == [mine]


def test_sweep_ignores_other_directories(skm_folder):
    other = skm_folder / "skmemmap-data"  # no owner file: not a session folder
    other.mkdir()
    (other / "keep.npy").write_bytes(b"x")
    (skm_folder / "unrelated").mkdir()
    assert _folder.sweep(skm_folder) == []
    assert (other / "keep.npy").exists()


# -- writing safely ---------------------------------------------------------------
@pytest.fixture
def little_free_space(monkeypatch):
    free = 1000

    def disk_usage(path):
        return SimpleNamespace(total=10**9, used=10**9 - free, free=free)

    monkeypatch.setattr(_folder.shutil, "disk_usage", disk_usage)
    return free


def test_not_enough_free_space_raises_before_writing(little_free_space, skm_folder):
    X = np.ones((100, 3))

    with pytest.raises(NotEnoughDiskSpaceError) as info:
        skmemmap.memmap(X)

    error = info.value
    assert isinstance(error, OSError) and error.errno == errno.ENOSPC
    session = session_dirs(skm_folder)[0]
    message = str(error)
    assert str(session) in message
    assert f"{npy_nbytes(X)} bytes needed, {little_free_space} bytes free" in message
    assert "SKMEMMAP_FOLDER" in message
    assert folder_files(skm_folder) == []


def test_not_enough_free_space_for_a_gather(monkeypatch, skm_folder):
    X_mm = skmemmap.memmap(np.ones((100, 3)))
    monkeypatch.setattr(
        _folder.shutil,
        "disk_usage",
        lambda path: SimpleNamespace(total=10, used=10, free=0),
    )
    with (
        skmemmap.config_context(gather_nbytes=0),
        pytest.raises(NotEnoughDiskSpaceError, match="0 bytes free"),
    ):
        X_mm[[0, 5, 9]]
    assert [f for f in folder_files(skm_folder) if not f.endswith(".lock")] == [
        os.path.relpath(X_mm.filename, skm_folder)
    ]


def test_failed_write_leaves_no_file(skm_folder):
    X = np.array([[1.0], [2.0], ["three"]], dtype=object)
    with pytest.raises(ValueError, match="three"):
        skmemmap.memmap(X, dtype=np.float64)
    assert folder_files(skm_folder) == []


def test_files_appear_complete_by_rename(monkeypatch, skm_folder):
    X = np.arange(300.0).reshape(100, 3)
    seen = []
    replace = os.replace

    def checking_replace(src, dst):
        # At publication the temporary file is complete, the final name free.
        assert os.path.basename(src).startswith(".tmp-")
        assert not os.path.exists(dst)
        np.testing.assert_array_equal(np.load(src), X)
        seen.append(dst)
        return replace(src, dst)

    monkeypatch.setattr(_folder.os, "replace", checking_replace)
    X_mm = skmemmap.memmap(X)
    assert seen == [X_mm.filename]


def test_real_disk_full_leaves_no_partial_file(skm_folder):
    # RLIMIT_FSIZE makes writes past 1 MB fail with EFBIG, as a full disk
    # would with ENOSPC; SIGXFSZ is ignored so the process gets the error.
    # Twice: failing in posix_fallocate, then half-way through the write.
    proc = run_python(
        """
        import json, os, resource, signal
        import numpy as np, skmemmap
        from skmemmap._folder import session_folder
        folder = session_folder()
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (2**20, resource.RLIM_INFINITY))
        results = []
        for how in ("fallocate", "write"):
            if how == "write":
                del os.posix_fallocate
            try:
                skmemmap.memmap(np.ones((2**16, 8)))
            except skmemmap.NotEnoughDiskSpaceError as exc:
                result = {"error": str(exc), "is_oserror": isinstance(exc, OSError)}
            else:
                result = {"error": None}
            result["left"] = sorted(os.listdir(folder))
            results.append(result)
        print(json.dumps(results))
        """,
        skm_folder,
    )
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    for how, result in zip(("fallocate", "write"), json.loads(out), strict=True):
        assert result["error"] is not None, f"{how}: writing past the limit worked"
        assert result["is_oserror"]
        assert f"{npy_nbytes(np.ones((2**16, 8)))} bytes needed" in result["error"]
        assert result["left"] == [".owner"], how
