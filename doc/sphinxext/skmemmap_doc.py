"""Sphinx directives that render tables from the code, so the docs cannot drift.

``.. skmemmap-layout-table::``
    One row per entry of skmemmap's layout registry
    (``skmemmap._layout._BUILTIN``), listing the public scikit-learn
    estimators it covers: the layout ``layout_for`` gives them, whether they
    get a copy-on-write map, and the copies they still make by themselves
    (``_OWN_COPIES``: how they depend on the parameters). Built from the installed
    scikit-learn at build time.

``.. skmemmap-bench:: PATH``
    The benchmark table and figure, if ``PATH.json`` / ``PATH.png`` exist
    (relative to the source directory, e.g. ``_static/bench``); otherwise a
    note saying how to produce them. A missing file is not a warning, so
    ``sphinx-build -W`` passes before anyone has run the benchmark.

Headline substitutions (``headline_prolog``, used as ``rst_prolog`` by
``conf.py``)
    The one headline number, read from ``_static/headline.json`` (keys
    ``workload``, ``measure``, ``plain_x``, ``skmemmap_x``, ``ratio``,
    ``command``): ``|headline_plain_x|``, ``|headline_skmemmap_x|``,
    ``|headline_ratio|``, ``|headline_workload|``, ``|headline_measure|``,
    ``|headline_command|``, and ``|headline|``, one sentence with all of them.
    ``tests/test_docs.py`` checks that README.md quotes the same numbers.

API pages (``autosummary_context``, ``_read_more``)
    Each public name's page says where the user guide explains it ("Read
    more in the User Guide", after the docstring's summary, as scikit-learn's
    pages do), and each class page has a Methods table: the methods its page
    documents (what ``tests/test_docs.py`` checks), never numpy's or
    ``set_*_request``.

Links to scikit-learn, numpy and joblib (``_resolve_external``)
    With ``default_role = "py:obj"``, `GridSearchCV`, `np.memmap` or
    `joblib.dump` in single backquotes link to that project's page:
    scikit-learn's public names by their short name (when it is unique and
    not one of skmemmap's), ``np.`` as ``numpy.``.

Figures
    At the start of every build, ``skmemmap_figures.draw_all`` draws the
    user guide's figures from their measured data (``_static/fig_*.json``)
    into ``figures/`` (not committed): what the pages show is what the data
    says.
"""

import json
import os

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.util.docutils import SphinxDirective


def _registry_rows():
    """(entry, [estimator classes], layout, own copies, cause) per group.

    Estimators are grouped by the registry entry that matches them, the
    layout ``layout_for`` gives them (with their default parameters) and the
    own-copy entry that matches them (``_OWN_COPIES``: its summary of how the
    amount depends on the parameters, and the cause for a large float64 X).
    """
    from sklearn.utils import all_estimators

    from skmemmap import layout_for
    from skmemmap._layout import _BUILTIN, _OWN_COPIES, _lookup, own_copy_info

    groups = {}
    for _, cls in all_estimators():
        for klass in cls.__mro__:
            # the registry's own matching rule (see skmemmap._layout._lookup)
            if (
                klass.__module__.split(".")[0] == "sklearn"
                and klass.__name__ in _BUILTIN
            ):
                own = _lookup(_OWN_COPIES, cls)
                summary = own[1] if own else ""
                cause = own_copy_info(cls).cause if own else ""
                key = (klass.__name__, layout_for(cls), summary, cause)
                groups.setdefault(key, []).append(cls)
                break
    order = list(_BUILTIN)
    return [
        (entry, classes, layout, summary, cause)
        for (entry, layout, summary, cause), classes in sorted(
            groups.items(), key=lambda item: order.index(item[0][0])
        )
    ]


def _cell(text):
    return text.replace("|", "\\|") if text else "\\-"


class LayoutTable(SphinxDirective):
    has_content = False

    def run(self):
        lines = [
            ".. list-table::",
            "   :header-rows: 1",
            "   :widths: 26 14 8 30 22",
            "",
            "   * - Estimators",
            "     - Reads X without a copy as",
            "     - Copy-on-write map",
            "     - Own copies in fit",
            "     - Why (registry entry)",
        ]
        for entry, classes, layout, summary, cause in _registry_rows():
            # public path: sklearn.<subpackage> re-exports every estimator
            names = ", ".join(
                f":class:`~sklearn.{cls.__module__.split('.')[1]}.{cls.__name__}`"
                for cls in classes
            )
            copies = summary or "none known"
            why = f"{cause} ({entry})" if cause else f"({entry})"
            lines += [
                f"   * - {names}",
                f"     - {_cell(layout.describe())}",
                f"     - {'yes' if layout.writeable else 'no'}",
                f"     - {copies}",
                f"     - {_cell(why)}",
            ]
        return self._parse(lines)

    def _parse(self, lines):
        container = nodes.container()
        source = "<skmemmap-layout-table>"
        self.state.nested_parse(StringList(lines, source=source), 0, container)
        return container.children


class BenchResults(SphinxDirective):
    required_arguments = 1
    has_content = False

    def run(self):
        stem = self.arguments[0]
        src = self.env.srcdir
        json_path = os.path.join(src, stem + ".json")
        png_path = os.path.join(src, stem + ".png")
        lines = []
        if os.path.exists(json_path):
            self.env.note_dependency(json_path)
            with open(json_path) as f:
                results = json.load(f)
            lines += _bench_table(results)
        else:
            lines += [
                ".. note::",
                "",
                f"   No results yet: ``{stem}.json`` does not exist. Run the "
                "command above to produce it.",
                "",
            ]
        if os.path.exists(png_path):
            self.env.note_dependency(png_path)
            lines += [
                f".. figure:: /{stem}.png",
                "   :alt: Memory over time and time vs peak memory, plain "
                "scikit-learn and skmemmap",
                "",
                "   Left: memory above the start during one search. Right: wall "
                "time against peak memory for every run.",
                "",
            ]
        container = nodes.container()
        self.state.nested_parse(StringList(lines, source=json_path), 0, container)
        return container.children


def _bench_table(results):
    x_nbytes = results["x_nbytes"]
    n_samples, n_features = results["shape"]
    pairs = {}
    for run in results["runs"]:
        key = (run["workload"], run["n_jobs"], run["folds"])
        pairs.setdefault(key, {})[run["mode"]] = run
    lines = [
        f"X: {n_samples} x {n_features} float64 ({x_nbytes / 2**20:.0f} MB)"
        + (", ``--quick``" if results.get("quick") else "")
        + ". Peak memory above the start, summed over the process tree.",
        "",
        ".. list-table::",
        "   :header-rows: 1",
        "",
        "   * - workload",
        "     - n_jobs",
        "     - folds",
        "     - plain MB (x X)",
        "     - plain s",
        "     - skmemmap MB (x X)",
        "     - skmemmap s",
        "     - memory ratio",
        "     - time ratio",
    ]
    for (workload, n_jobs, folds), pair in pairs.items():
        p, s = pair.get("plain"), pair.get("skmemmap")
        if p is None or s is None:
            continue
        lines += [
            f"   * - {workload}",
            f"     - {n_jobs}",
            f"     - {folds}",
            f"     - {p['peak_bytes'] / 2**20:.0f} ({p['peak_bytes'] / x_nbytes:.1f})",
            f"     - {p['seconds']:.1f}",
            f"     - {s['peak_bytes'] / 2**20:.0f} ({s['peak_bytes'] / x_nbytes:.1f})",
            f"     - {s['seconds']:.1f}",
            f"     - {p['peak_bytes'] / max(s['peak_bytes'], 1):.1f}",
            f"     - {p['seconds'] / max(s['seconds'], 1e-9):.2f}",
        ]
    return [*lines, ""]


HEADLINE_KEYS = ("workload", "measure", "plain_x", "skmemmap_x", "ratio", "command")


def load_headline(static_dir):
    """The headline measurement, checked for its keys."""
    with open(os.path.join(static_dir, "headline.json")) as f:
        headline = json.load(f)
    missing = [k for k in HEADLINE_KEYS if k not in headline]
    if missing:
        raise ValueError(f"headline.json lacks {missing}")
    return headline


def headline_sentence(h):
    """The headline as one sentence (also what README.md must quote)."""
    return (
        f"{h['workload']}: plain scikit-learn needs {h['plain_x']:.2f} x X of "
        f"extra memory, skmemmap {h['skmemmap_x']:.2f} x X, {h['ratio']:.1f} "
        f"times less ({h['measure']})"
    )


def headline_prolog(static_dir):
    """reST substitution definitions for the headline number."""
    h = load_headline(static_dir)
    values = {
        "headline_plain_x": f"{h['plain_x']:.2f} x X",
        "headline_skmemmap_x": f"{h['skmemmap_x']:.2f} x X",
        "headline_ratio": f"{h['ratio']:.1f}",
        "headline_workload": h["workload"],
        "headline_measure": h["measure"],
        "headline_command": f"``{h['command']}``",
        "headline": headline_sentence(h),
    }
    return "\n".join(f".. |{name}| replace:: {value}" for name, value in values.items())


def _draw_figures(app):
    import skmemmap_figures

    static = os.path.join(app.srcdir, "_static")
    skmemmap_figures.draw_all(os.path.join(app.srcdir, "figures"), static)


def _resolve_memory_sample(app, env, node, contnode):
    """Link ``MemorySample`` (not exported from skmemmap) to its page."""
    target = node.get("reftarget", "")
    if node.get("refdomain") != "py" or target.split(".")[-1] != "MemorySample":
        return None
    return env.domains["py"].resolve_xref(
        env,
        node["refdoc"],
        app.builder,
        "class",
        "skmemmap._monitor.MemorySample",
        node,
        contnode,
    )


# The user-guide page of each public name: "Read more in the User Guide".
USER_GUIDE = {
    "memmap": "user_guide/memmap_array",
    "load": "user_guide/memmap_array",
    "MemmapArray": "user_guide/memmap_array",
    "is_memmap_view": "user_guide/memmap_array",
    "ChunkedArray": "user_guide/bigger_than_memory",
    "StreamingEstimator": "user_guide/bigger_than_memory",
    "shuffle": "user_guide/splitting",
    "ContiguousKFold": "user_guide/splitting",
    "distribute": "scaling_out",
    "FileMismatchError": "scaling_out",
    "TemporaryFileWarning": "scaling_out",
    "MemmapEstimator": "user_guide/copies",
    "Layout": "user_guide/layouts",
    "layout_for": "user_guide/layouts",
    "own_copies": "user_guide/layouts",
    "register_layout": "user_guide/layouts",
    "audit": "user_guide/layouts",
    "AuditResult": "user_guide/layouts",
    "LayoutWarning": "user_guide/layouts",
    "MemoryMonitor": "performance",
    "MemorySample": "performance",
    "forecast": "user_guide/forecast",
    "Forecast": "user_guide/forecast",
    "ForecastPart": "user_guide/forecast",
    "MemoryBudgetError": "user_guide/forecast",
    "set_config": "user_guide/memmap_array",
    "get_config": "user_guide/memmap_array",
    "config_context": "user_guide/memmap_array",
    "CopyWarning": "user_guide/warnings",
    "copy_report": "user_guide/warnings",
    "CopyReport": "user_guide/warnings",
    "CopyError": "user_guide/warnings",
    "NotEnoughDiskSpaceError": "user_guide/files",
}

_NUMPYDOC_SECTIONS = {
    "Parameters",
    "Attributes",
    "Returns",
    "Yields",
    "Raises",
    "Warns",
    "See Also",
    "Notes",
    "References",
    "Examples",
    "Methods",
}


def documented_methods(cls):
    """The public methods of ``cls`` that its API page documents.

    Those skmemmap or scikit-learn define (numpy's and the builtin
    exceptions' are left out, as are ``set_*_request``), as in the class
    template's ``:members:`` and ``tests/test_docs.py``.
    """
    import re

    names = set()
    for klass in cls.__mro__:
        if klass.__module__.split(".")[0] not in ("skmemmap", "sklearn"):
            continue
        if klass.__name__ in ("_MetadataRequester", "ReprHTMLMixin"):
            continue
        for name, value in vars(klass).items():
            if name.startswith("_") or re.match(r"set_\w+_request$", name):
                continue
            if callable(value) and not isinstance(value, type):
                names.add(name)
    return sorted(names)


def autosummary_context():
    """Template variables: each class's methods, each name's user-guide page."""
    import inspect

    import skmemmap
    from skmemmap._forecast import ForecastPart
    from skmemmap._monitor import MemorySample

    objects = [getattr(skmemmap, n) for n in skmemmap.__all__ if n != "__version__"]
    methods = {
        obj.__name__: documented_methods(obj)
        for obj in [*objects, MemorySample, ForecastPart]
        if inspect.isclass(obj) and obj is not skmemmap.MemmapArray
    }
    return {"class_methods": methods, "user_guide": USER_GUIDE}


def _read_more(app, what, name, obj, options, lines):
    """Add "Read more in the User Guide" after a public name's summary."""
    if what not in ("class", "exception", "function"):
        return
    short = name.rsplit(".", 1)[-1]
    modules = ("skmemmap", "skmemmap._monitor", "skmemmap._forecast")
    if name not in {f"{module}.{short}" for module in modules}:
        return
    page = USER_GUIDE.get(short)
    if page is None or any("Read more in the" in line for line in lines):
        return
    at = len(lines)
    for i in range(len(lines) - 1):
        if lines[i].strip() in _NUMPYDOC_SECTIONS and set(lines[i + 1].strip()) == {
            "-"
        }:
            at = i
            break
    if page == "performance":  # not a user-guide page: name it
        read_more = "Read more in :doc:`/performance` (what the benchmarks measure)."
    else:
        read_more = f"Read more in the :doc:`User Guide </{page}>`."
    lines[at:at] = [read_more, ""]


def _external_names(env):
    """Short scikit-learn names -> full names, where the short name is unique."""
    import skmemmap

    cached = getattr(env, "_skmemmap_short_names", None)
    if cached is not None:
        return cached
    inventory = getattr(env, "intersphinx_named_inventory", {}).get("sklearn", {})
    seen = {}
    for role in ("py:class", "py:function", "py:exception"):
        for full in inventory.get(role, {}):
            seen.setdefault(full.rsplit(".", 1)[-1], set()).add(full)
    ours = set(skmemmap.__all__)
    names = {
        short: fulls.pop()
        for short, fulls in seen.items()
        if len(fulls) == 1 and short not in ours
    }
    env._skmemmap_short_names = names
    return names


def _resolve_external(app, env, node, contnode):
    """Link `GridSearchCV`, `np.memmap`, ... to scikit-learn's or numpy's page."""
    from sphinx.ext.intersphinx import missing_reference

    if node.get("refdomain") != "py":
        return None
    target = node.get("reftarget", "")
    if target.startswith("np."):
        full = "numpy." + target[3:]
    else:
        full = _external_names(env).get(target)
    if full is None:
        return None
    node["reftarget"] = full
    try:
        return missing_reference(app, env, node, contnode)
    finally:
        node["reftarget"] = target


def _memmap_array_signature(app, what, name, obj, options, signature, annotation):
    """MemmapArray has no constructor: show no ``(*args, **kwargs)``."""
    if name == "skmemmap.MemmapArray":
        return "", annotation
    return None


def setup(app):
    app.connect("builder-inited", _draw_figures)
    app.connect("missing-reference", _resolve_memory_sample)
    app.connect("missing-reference", _resolve_external, priority=900)
    app.connect("autodoc-process-docstring", _read_more, priority=300)
    app.connect("autodoc-process-signature", _memmap_array_signature)
    app.add_directive("skmemmap-layout-table", LayoutTable)
    app.add_directive("skmemmap-bench", BenchResults)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
