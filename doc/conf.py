"""Sphinx configuration for skmemmap's documentation.

Build (what tests/test_docs.py runs in CI)::

    SKMEMMAP_DOC_QUICK=1 python -m sphinx -W --keep-going -b html doc doc/_build/html

``SKMEMMAP_DOC_QUICK=1`` makes the gallery examples use small data, so the
whole build with the gallery executed takes about a minute on 2 cores.
Without it each example runs at its full (still modest) size.

Every build also draws the user guide's figures (``figures/fig_*.png``) from
the measured data in ``_static/fig_*.json`` (sphinxext/skmemmap_figures.py),
and reads the headline number from ``_static/headline.json``. Without network
the intersphinx links come from inventories written from the installed
packages (sphinxext/skmemmap_inventories.py); ``SKMEMMAP_DOC_OFFLINE=1``
skips the download attempt.
"""

import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "sphinxext"))
# Build from a source checkout without installing it first.
sys.path.insert(0, os.path.dirname(HERE))

import skmemmap  # noqa: E402

project = "skmemmap"
author = "skmemmap developers"
copyright = "skmemmap developers"
version = release = skmemmap.__version__

import skmemmap_doc  # noqa: E402
import skmemmap_inventories  # noqa: E402

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.doctest",
    "sphinx.ext.intersphinx",
    "numpydoc",
    "sphinx_design",
    "sphinx_gallery.gen_gallery",
    "skmemmap_doc",
]

# Links to Python, numpy, scikit-learn and joblib. Each project's own
# inventory is downloaded when the network can be reached; otherwise (CI has
# no network) intersphinx falls back, quietly, to an inventory written from
# the installed package (see sphinxext/skmemmap_inventories.py), so the build
# neither fails nor waits: an unreachable host fails at once, a slow one after
# intersphinx_timeout seconds. SKMEMMAP_DOC_OFFLINE=1 skips the download.
intersphinx_mapping = skmemmap_inventories.intersphinx_mapping(
    os.path.join(HERE, "_build", "intersphinx")
)
intersphinx_timeout = 5

# The headline number (doc/_static/headline.json) as substitutions:
# |headline_plain_x|, |headline_skmemmap_x|, |headline_ratio|,
# |headline_workload|, |headline_measure|, |headline_command| and
# |headline| (one sentence). See sphinxext/skmemmap_doc.py.
rst_prolog = skmemmap_doc.headline_prolog(os.path.join(HERE, "_static"))

templates_path = ["_templates"]
exclude_patterns = ["_build", "**.ipynb_checkpoints"]
# `Name` (single backquotes) is a cross-reference: to skmemmap's API, or, for
# a scikit-learn, numpy (``np.``) or joblib name, to that project's page
# (short scikit-learn names such as `GridSearchCV` are resolved by
# sphinxext/skmemmap_doc.py). A name that resolves nowhere is set as code.
default_role = "py:obj"
# "fit()" rather than "MemmapEstimator.fit()" in the page's table of contents
toc_object_entries_show_parents = "hide"

autosummary_generate = True
# What the class and function templates (_templates/autosummary/) read: the
# user-guide page of each public name ("Read more in the User Guide") and
# each class's documented methods and properties (its Methods table).
autosummary_context = skmemmap_doc.autosummary_context()
autodoc_typehints = "none"
# Members are chosen per class by _templates/autosummary/class.rst (every
# method and property skmemmap defines or inherits from scikit-learn, never
# MemmapArray's numpy methods), not here: an autodoc default would override
# the template's options.
# numpydoc's per-class member tables would list MemmapArray's (numpy-derived)
# methods and link to pages that do not exist.
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

html_theme = "pydata_sphinx_theme"
html_static_path = ["_static"]
html_css_files = ["skmemmap.css"]
# the version is on the landing page and in the footer; a short title leaves
# the top bar room for its items
html_title = "skmemmap"
html_theme_options = {
    "navigation_with_keys": False,
    # the user guide is read in order: "Previous" and "Next" at each page's end
    "show_prev_next": True,
    "secondary_sidebar_items": ["page-toc"],
    # the right-hand table of contents shows sections and their subsections
    # (the performance page's results, the user guide's pitfalls)
    "show_toc_level": 2,
    # The six top-level pages (Installation is under Getting started) fit the
    # top bar on one line from 992 pixels wide (narrower, the theme moves them
    # to its side menu), with the search as an icon (_static/skmemmap.css);
    # more items would not fit.
    "header_links_before_dropdown": 6,
    "navbar_persistent": ["search-button"],
    "footer_end": ["theme-version", "skmemmap-version"],
}
# The left sidebar (the section's pages) as scikit-learn has it, except on
# the landing page.
# Pages without sub-pages (performance, changelog) get no empty "Section
# Navigation" either.
html_sidebars = {
    "index": [],
    "performance": [],
    "changelog": [],
    "**": ["sidebar-nav-bs"],
}

sphinx_gallery_conf = {
    "examples_dirs": ["../examples"],
    "gallery_dirs": ["auto_examples"],
    # Only plot_*.py scripts are gallery examples; examples/gridsearch_views.py
    # is README's command-line demo and stays out of the gallery.
    "filename_pattern": r"/plot_",
    "ignore_pattern": r"^(?!plot_)",
    "backreferences_dir": "gen_modules/backreferences",
    "doc_module": ("skmemmap",),
    "download_all_examples": False,
    "remove_config_comments": True,
    "matplotlib_animations": False,
    "abort_on_example_error": True,
    "only_warn_on_example_error": False,
    "plot_gallery": "True",
    "within_subsection_order": "FileNameSortKey",
}


def _escape_shape_names(app, what, name, obj, options, lines):
    """Quote names ending in ``_`` in "of shape (n_features_in_,)" types.

    reST reads ``word_`` as a link to a target named "word"; scikit-learn's
    own docstrings write these in backquotes. This lets a docstring that
    forgot them build under -W instead of failing on "Unknown target name".
    """
    for i, line in enumerate(lines):
        if "of shape (" in line:
            lines[i] = re.sub(r"(?<![`\w])(\w+_)(?=[,)])", r"``\1``", line)


def setup(app):
    # before numpydoc (priority 500) turns the sections into reST
    app.connect("autodoc-process-docstring", _escape_shape_names, priority=400)
