"""Helpers shared by the test modules (importable by name: see conftest.py)."""

import hashlib
from pathlib import Path


def sha256(path):
    """Checksum of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(2**20), b""):
            h.update(block)
    return h.hexdigest()


def folder_files(base):
    """Paths (relative to ``base``) of every file below ``base``, except lock owners.

    ``.owner`` is the lock file that marks a live session folder; it holds no data.
    """
    base = Path(base)
    return sorted(
        str(p.relative_to(base))
        for p in base.rglob("*")
        if p.is_file() and p.name != ".owner"
    )


def session_dirs(base):
    """The ``skmemmap-<pid>-*`` session folders directly under ``base``."""
    return sorted(p for p in Path(base).iterdir() if p.name.startswith("skmemmap-"))
