"""Sphinx configuration for skmemmap's documentation.

Build (what tests/test_docs.py runs in CI)::

    SKMEMMAP_DOC_QUICK=1 python -m sphinx -W --keep-going -b html doc doc/_build/html

``SKMEMMAP_DOC_QUICK=1`` makes the gallery examples use small data, so the
whole build with the gallery executed takes about a minute on 2 cores.
Without it each example runs at its full (still modest) size.
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

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.doctest",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "skmemmap_doc",
]

# Links to numpy, scikit-learn, joblib and Python need their inventories from
# the network, which CI may not have; a failed download is a warning and
# would fail the -W build. Opt in with SKMEMMAP_DOC_INTERSPHINX=1.
if os.environ.get("SKMEMMAP_DOC_INTERSPHINX") == "1":
    extensions.append("sphinx.ext.intersphinx")
    intersphinx_mapping = {
        "python": ("https://docs.python.org/3", None),
        "numpy": ("https://numpy.org/doc/stable", None),
        "sklearn": ("https://scikit-learn.org/stable", None),
        "joblib": ("https://joblib.readthedocs.io/en/stable", None),
        "matplotlib": ("https://matplotlib.org/stable", None),
    }

templates_path = ["_templates"]
exclude_patterns = ["_build", "**.ipynb_checkpoints"]
default_role = "literal"

autosummary_generate = True
autodoc_typehints = "none"
autodoc_default_options = {"members": False, "inherited-members": False}
# numpydoc's per-class member tables would list MemmapArray's (numpy-derived)
# methods and link to pages that do not exist; the class template lists the
# methods skmemmap documents instead.
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

html_theme = "pydata_sphinx_theme"
html_static_path = ["_static"]
html_title = f"skmemmap {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_prev_next": False,
    "secondary_sidebar_items": ["page-toc"],
}
html_sidebars = {"**": []}

sphinx_gallery_conf = {
    "examples_dirs": ["../examples"],
    "gallery_dirs": ["auto_examples"],
    # Only plot_*.py scripts are gallery examples; examples/gridsearch_views.py
    # is README's command-line demo and stays out of the gallery.
    "filename_pattern": r"/plot_",
    "ignore_pattern": r"^(?!plot_)",
    "backreferences_dir": "gen_modules/backreferences",
    "doc_module": ("skmemmap",),
    "reference_url": {"skmemmap": None},
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
