"""Small helpers shared by several modules: byte sizes and their formatting."""

import numbers
import os
import re
import subprocess
import sys

_UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def parse_nbytes(value, name="max_nbytes"):
    """Return a byte count from an int or a string such as ``"1M"`` or ``"64MB"``.

    ``None`` is returned unchanged (meaning "no limit").
    """
    if value is None:
        return None
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        if value < 0:
            raise ValueError(f"{name} must be >= 0, got {value!r}.")
        return int(value)
    if isinstance(value, str):
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)i?B?\s*", value.upper())
        if match:
            return int(float(match.group(1)) * _UNITS[match.group(2)])
    raise ValueError(
        f"{name} must be a non-negative int or a string such as '1M' or '64MB', "
        f"got {value!r}."
    )


def format_mb(nbytes):
    """Format a byte count in MB (2**20 bytes) the way every message does."""
    mb = nbytes / 2**20
    if mb >= 10:
        return f"{mb:,.0f} MB"
    return f"{mb:.2g} MB" if mb >= 0.01 else f"{mb:.1g} MB"


def layout_name(dtype, order):
    """Human name of a layout, e.g. ``'float32 Fortran'``."""
    return f"{dtype.name if hasattr(dtype, 'name') else dtype} " + (
        "Fortran" if order == "F" else "C"
    )


def child_env():
    """Environment for a ``python -m skmemmap...`` subprocess.

    The child must import this very skmemmap, whether it is installed or run
    from a source checkout, so its parent folder goes first on PYTHONPATH.
    """
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    return env


def run_module(module, *args, what, timeout=None):
    """Run ``python -m module *args`` in a child that imports this skmemmap.

    Returns the completed process; raises RuntimeError naming ``what`` and
    quoting the end of the child's stderr if it failed.
    """
    proc = subprocess.run(
        [sys.executable, "-m", module, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=child_env(),
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"{what} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}"
        )
    return proc
