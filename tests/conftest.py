"""Shared fixtures: a private skmemmap folder per test, unchanged user files."""

import sys
from pathlib import Path

import numpy as np
import pytest

# Test helper modules (``_spy``) must be importable by name in this process and
# in joblib's loky workers, which start with the parent's ``sys.path``.
TESTS_DIR = str(Path(__file__).resolve().parent)
if TESTS_DIR not in sys.path:
    sys.path.insert(0, TESTS_DIR)

from _helpers import sha256  # noqa: E402 - importable once the path is set


@pytest.fixture
def skm_folder(tmp_path, monkeypatch):
    """A fresh, empty base folder used through ``$SKMEMMAP_FOLDER`` for this test."""
    base = tmp_path / "skm"
    base.mkdir()
    monkeypatch.setenv("SKMEMMAP_FOLDER", str(base))
    return base


@pytest.fixture
def folder(skm_folder):
    """``skm_folder``, with the copy signal's state reset before and after."""
    from skmemmap import _signal

    _signal.reset()
    yield skm_folder
    _signal.reset()


@pytest.fixture
def user_file(tmp_path):
    """Save arrays as a user's ``.npy`` files; at teardown check none was modified.

    ``user_file(array, name="x.npy")`` returns the path. The test fails at
    teardown if a file's bytes changed or the file disappeared: skmemmap never
    writes to or deletes a file it did not create.
    """
    saved = {}

    def make(array, name="x.npy"):
        path = tmp_path / "user" / name
        path.parent.mkdir(exist_ok=True)
        np.save(path, array)
        saved[path] = sha256(path)
        return path

    yield make
    for path, digest in saved.items():
        assert path.exists(), f"skmemmap deleted the user's file {path}"
        assert sha256(path) == digest, f"skmemmap modified the user's file {path}"


@pytest.fixture
def rng():
    return np.random.default_rng(0)
