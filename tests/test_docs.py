"""The documentation builds with warnings as errors, running the gallery.

This is how CI builds the docs: the test suite is the only command it runs.
"""

import importlib.util
import inspect
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOC_REQUIREMENTS = (
    "sphinx",
    "numpydoc",
    "sphinx_gallery",
    "pydata_sphinx_theme",
    "sphinx_design",
)
MISSING = [m for m in DOC_REQUIREMENTS if importlib.util.find_spec(m) is None]
# With SKMEMMAP_DOC_QUICK=1 the build takes about 50 s of CPU (its gallery
# restarts loky's workers before each measurement); measured 3 minutes of
# wall time on 2 cores shared with a load average of 12. The limits leave
# room for that.
BUILD_TIMEOUT = 420
# The figures the build draws from measured data (doc/sphinxext/skmemmap_figures.py)
# API pages whose docstrings (skmemmap/_forecast.py) have no "See Also" yet
DRAWN_FIGURES = ("fig_njobs.png", "fig_audit_heatmap.png", "fig_time_memory.png")


def _headline():
    return json.loads((ROOT / "doc" / "_static" / "headline.json").read_text())


def _python_blocks(text, markdown=False):
    """The Python code blocks of a reST (or Markdown) page, in order."""
    if markdown:
        return re.findall(r"```python\n(.*?)```", text, flags=re.S)
    blocks = []
    for match in re.finditer(
        r"^\.\. code-block:: python\n\n((?:   .*\n|\n)+)", text, flags=re.M
    ):
        blocks.append(textwrap.dedent(match.group(1)))
    return blocks


def _public_members(cls):
    """Methods and properties a class page must document."""
    if cls.__name__ == "MemmapArray":  # its other methods are numpy's
        return ["filename"]
    names = []
    for klass in cls.__mro__:
        if klass.__module__.split(".")[0] not in ("skmemmap", "sklearn"):
            continue
        for name, value in vars(klass).items():
            if name.startswith("_") or re.match(r"set_\w+_request$", name):
                continue
            if klass.__name__ in ("_MetadataRequester", "ReprHTMLMixin"):
                continue
            if callable(value) or isinstance(value, property):
                names.append(name)
    return sorted(set(names))


def test_api_page_lists_every_public_name():
    import skmemmap

    api = (ROOT / "doc" / "api.rst").read_text()
    listed = {line.strip() for line in api.splitlines() if line.startswith("   ")}
    missing = set(skmemmap.__all__) - {"__version__"} - listed
    assert not missing, f"add {sorted(missing)} to an autosummary in doc/api.rst"
    # the type MemoryMonitor returns, not exported but users hold it
    assert "~_monitor.MemorySample" in listed


def test_readme_quotes_the_headline_number():
    headline = _headline()
    readme = (ROOT / "README.md").read_text()
    text = " ".join(readme.split())
    for quoted in (
        f"{headline['plain_x']:.2f} x X",
        f"{headline['skmemmap_x']:.2f} x X",
        f"{headline['ratio']:.1f} times less",
        headline["command"],
        " ".join(headline["workload"].split()),
    ):
        assert quoted in text, f"README.md must quote {quoted!r} (headline.json)"


def test_readme_commands_are_what_ci_runs():
    readme = (ROOT / "README.md").read_text()
    commands = re.search(r"```bash\n(.*?)```", readme, flags=re.S).group(1)
    first, second = commands.strip().splitlines()
    assert first == "python -m pip install . && python -m skmemmap bench --quick"
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert second in ci, "CI first runs exactly the README's test command"


EXAMPLE_PAGES = ("doc/index.rst", "doc/getting_started.rst", "README.md")
# Runs each page's blocks in its own namespace; one interpreter for all pages
# (imports and loky's workers started once: about 20 s on 2 busy cores).
_RUN_PAGES = """
import json, sys, traceback
for page, code in json.loads(sys.stdin.read()):
    try:
        exec(compile(code, page, "exec"), {"__name__": "__main__"})
    except BaseException:
        sys.exit(page + ":\\n" + traceback.format_exc())
"""


def test_page_examples_run(tmp_path):
    """The Python blocks of the landing page, Getting started and README run
    as written, in order (no undefined name, no missing import)."""
    pages = []
    for page in EXAMPLE_PAGES:
        blocks = _python_blocks(
            (ROOT / page).read_text(), markdown=page.endswith(".md")
        )
        assert blocks, page
        pages.append((page, "\n".join(blocks)))
    landing = _python_blocks((ROOT / "doc/index.rst").read_text())[0]
    assert len(landing.strip().splitlines()) <= 6, "the landing example"
    env = dict(os.environ, MPLBACKEND="Agg", SKMEMMAP_FOLDER=str(tmp_path))
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT), env.get("PYTHONPATH")) if p
    )
    proc = subprocess.run(
        [sys.executable, "-c", _RUN_PAGES],
        input=json.dumps(pages),
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]


@pytest.mark.skipif(
    bool(MISSING),
    reason=f"building the docs needs {', '.join(MISSING)}: pip install '.[doc]'",
)
@pytest.mark.timeout(BUILD_TIMEOUT + 30)
def test_docs_build_with_gallery(tmp_path):
    # Build a copy of doc/ and examples/: sphinx-gallery and autosummary write
    # generated pages into the source tree, and skip examples whose generated
    # copy is up to date; a fresh copy runs every example and leaves the
    # checkout clean.
    ignore = shutil.ignore_patterns(
        "_build", "auto_examples", "gen_modules", "generated", "figures", "__pycache__"
    )
    shutil.copytree(ROOT / "doc", tmp_path / "doc", ignore=ignore)
    shutil.copytree(ROOT / "examples", tmp_path / "examples", ignore=ignore)
    out = tmp_path / "html"
    # the gallery's scripts run with their own temporary folder, which must
    # be empty when the build ends: the examples leave nothing behind
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = dict(os.environ, SKMEMMAP_DOC_QUICK="1", MPLBACKEND="Agg", TMPDIR=str(tmp))
    env.pop("SKMEMMAP_FOLDER", None)
    started = time.time()
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT), env.get("PYTHONPATH")) if p
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "sphinx",
            "-W",
            "--keep-going",
            "-b",
            "html",
            str(tmp_path / "doc"),
            str(out),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
    )
    log = proc.stdout[-4000:] + "\n" + proc.stderr[-6000:]
    assert proc.returncode == 0, f"sphinx-build failed:\n{log}"

    left = sorted(p.name for p in tmp.iterdir())
    assert not left, f"the build left {left} in its temporary folder"

    # no warning printed by a worker process (they bypass sphinx-gallery)
    assert "Warning" not in proc.stderr, proc.stderr[-3000:]

    examples = sorted(p.stem for p in (ROOT / "examples").glob("plot_*.py"))
    assert examples
    figures = {p.name for p in (out / "_images").glob("*.png")}
    for name in examples:
        assert f"sphx_glr_{name}_001.png" in figures, (name, sorted(figures))
    for name in DRAWN_FIGURES:
        path = out / "_images" / name
        assert path.exists(), name
        assert path.stat().st_mtime >= started, f"{name} was not drawn by this build"
    for page in ("index", "user_guide", "api", "performance", "changelog"):
        assert (out / f"{page}.html").exists(), page

    # every public class page documents its methods and properties
    import skmemmap
    from skmemmap._monitor import MemorySample

    classes = [getattr(skmemmap, n) for n in skmemmap.__all__]
    classes = [c for c in classes if inspect.isclass(c)]
    for cls in [*classes, MemorySample]:
        name = cls.__name__ if cls is not MemorySample else "_monitor.MemorySample"
        html = (out / "generated" / f"skmemmap.{name}.html").read_text()
        for member in _public_members(cls):
            assert f'id="skmemmap.{name}.{member}"' in html, (name, member)

    # every API page links back to the user guide ("Read more in the User
    # Guide") and has numpydoc's "See also"; class pages a Methods table;
    # every page "Previous"/"Next" links
    for page in sorted((out / "generated").glob("skmemmap.*.html")):
        html = page.read_text()
        name = page.stem.removeprefix("skmemmap.")
        assert "Read more in " in html, name
        assert 'class="admonition seealso"' in html, name
        assert 'class="prev-next-area"' in html, name
    for cls in classes:
        if any(callable(getattr(cls, m)) for m in _public_members(cls)):
            html = (out / "generated" / f"skmemmap.{cls.__name__}.html").read_text()
            assert ">Methods<" in html, cls.__name__

    # the headline number, from headline.json, on the pages that quote it
    headline = _headline()
    for page in ("index", "getting_started", "performance"):
        text = " ".join((out / f"{page}.html").read_text().split())
        assert f"{headline['plain_x']:.2f} x X" in text, page
        assert f"{headline['skmemmap_x']:.2f} x X" in text, page

    # the layout table is generated from the registry at build time
    guide = (out / "user_guide" / "layouts.html").read_text()
    assert "RandomForestClassifier" in guide
    assert "float32 Fortran" in guide
    # intersphinx resolved (downloaded, or the offline fallback inventory)
    assert (
        "scikit-learn.org/stable/modules/generated/"
        "sklearn.ensemble.RandomForestClassifier.html"
    ) in guide


def test_figure_readings_hold_for_their_data():
    """The sentence under each drawn figure is what its committed data says."""
    static = ROOT / "doc" / "_static"
    njobs = json.loads((static / "fig_njobs.json").read_text())
    x = njobs["x_nbytes"]
    for run in njobs["runs"]:
        if run["mode"] == "skmemmap":  # "below a quarter of one copy"
            assert run["peak_bytes"] < 0.25 * x, run
        else:  # "more than a copy of X for every worker"
            assert run["peak_bytes"] > run["n_jobs"] * x, run
    assert sorted({r["n_jobs"] for r in njobs["runs"]}) == [1, 2, 4]

    # The landing page's figure is the headline's run: "less than a twentieth
    # of plain's committed memory, no longer; PSS less than a third".
    from skmemmap._bench import committed

    kfold = json.loads((static / "kfold_memory.json").read_text())
    run = {(r["mode"], r["n_jobs"], r["folds"]): r for r in kfold["runs"]}
    plain_x = committed(run["plain", 2, 5], xprop=True)
    assert round(plain_x, 3) == _headline()["plain_x"], "not the headline's run"
    for (mode, j, k), skm in run.items():
        if mode == "skmemmap":
            plain = run["plain", j, k]
            assert committed(skm, True) < committed(plain, True) / 20, (j, k)
            assert skm["seconds"] <= plain["seconds"], (j, k)
            pss = skm["xprop"]["peak_bytes"], plain["xprop"]["peak_bytes"]
            assert pss[0] < pss[1] / 3, (j, k)

    audit = json.loads((static / "fig_audit_heatmap.json").read_text())
    best = {
        r["estimator"].split("(")[0]: set(r["no_copy_layouts"]) for r in audit["rows"]
    }
    f32 = {"float32 C", "float32 Fortran"}
    every = f32 | {"float64 C", "float64 Fortran"}
    for name in (
        "RandomForestClassifier",
        "ExtraTreesClassifier",
        "DecisionTreeClassifier",
    ):
        assert best[name] == f32, name
    for name in ("LogisticRegression", "SGDClassifier", "KNeighborsClassifier"):
        assert best[name] == {"float64 C", "float32 C"}, name
    assert best["LinearSVC"] == {"float64 C"}
    assert best["HistGradientBoostingClassifier"] == {"float64 C", "float64 Fortran"}
    for name in ("Lasso", "Ridge", "PCA"):
        assert best[name] == every, name
