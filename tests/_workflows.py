"""Run the copy-warning workflows (``doc/copy_warnings/*.py``) as a user would.

Each workflow is a user's script, run by a fresh interpreter (so its loky
workers start fresh too) from its own folder, with default warning filters.
What it prints on standard error is exactly what the user reads: the
calling process's warnings and anything its workers print (their standard
error is the script's).

``python tests/_workflows.py --write`` runs them all and writes their output
to ``doc/copy_warnings/<name>.txt``, which "Reading copy warnings"
(doc/copy_warnings.rst) includes; tests/test_copy_signal.py checks that the
files still match a fresh run.
"""

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
# The scripts live beside their outputs, which the docs page includes.
WORKFLOWS = DOC_OUTPUT = HERE.parent / "doc" / "copy_warnings"
ROOT = HERE.parent

_WARNING = re.compile(r"^(?P<file>\S+):(?P<line>\d+): (?P<category>\w+): (?P<text>.*)$")


def run(name, timeout=240):
    """Run ``doc/copy_warnings/<name>.py``; return ``(returncode, stderr, warnings)``.

    ``warnings`` is a list of dicts: ``filename``, ``lineno``, ``category``,
    ``message`` (all its lines) and ``first_line``.
    """
    proc = run_script(WORKFLOWS / f"{name}.py", timeout=timeout)
    return proc.returncode, proc.stderr, proc.warnings


def run_script(path, timeout=240):
    """Run the user's script ``path`` with ``python`` from its own folder.

    Returns the completed process, with the script's folder taken out of
    its standard error (Python prints the script's absolute path; the user
    typed its name) and the warnings found there as ``warnings`` (see
    :func:`run`).
    """
    path = Path(path)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT), env.get("PYTHONPATH")) if p
    )
    env.pop("PYTHONWARNINGS", None)
    with tempfile.TemporaryDirectory() as folder:
        env["SKMEMMAP_FOLDER"] = folder
        proc = subprocess.run(
            [sys.executable, path.name],
            cwd=path.parent,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    proc.stderr = proc.stderr.replace(f"{path.parent}{os.sep}", "")
    proc.warnings = parse(proc.stderr)
    return proc


def parse(stderr):
    """The warnings in a script's standard error, as Python prints them."""
    found = []
    for line in stderr.splitlines():
        match = _WARNING.match(line)
        if match:
            found.append(
                {
                    "filename": match["file"],
                    "lineno": int(match["line"]),
                    "category": match["category"],
                    "first_line": match["text"],
                    "lines": [match["text"]],
                }
            )
        elif found and not line.startswith("  "):
            found[-1]["lines"].append(line)
    for w in found:
        w["message"] = "\n".join(w.pop("lines"))
    return found


def names():
    return sorted(p.stem for p in WORKFLOWS.glob("*.py"))


def transcript(name, stderr):
    """What doc/copy_warnings/<name>.txt holds: the command and its output."""
    return f"$ python {name}.py\n{stderr}" if stderr else f"$ python {name}.py\n"


def main(argv):
    write = "--write" in argv
    for name in names():
        code, stderr, found = run(name)
        print(f"{name}: exit {code}, {len(found)} warning(s)")
        if write:
            DOC_OUTPUT.mkdir(exist_ok=True)
            (DOC_OUTPUT / f"{name}.txt").write_text(transcript(name, stderr))
        else:
            sys.stdout.write(stderr)


if __name__ == "__main__":
    main(sys.argv[1:])
