"""Sphinx configuration of the fastconv documentation.

Build with ``pip install sphinx numpydoc pydata-sphinx-theme`` and an installed
fastconv, then ``sphinx-build -b html docs docs/_build/html``.
"""

import fastconv

project = "fastconv"
author = "The fastconv developers"
copyright = "the fastconv developers"
release = fastconv.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.doctest",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "numpydoc",
]

autosummary_generate = True
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_xref_param_type = True

intersphinx_mapping = {
    "python": ("https://docs.python.org/3", None),
    "numpy": ("https://numpy.org/doc/stable", None),
    "scipy": ("https://docs.scipy.org/doc/scipy", None),
}

default_role = "autolink"
templates_path = []
exclude_patterns = ["_build"]

try:
    import pydata_sphinx_theme  # noqa: F401
    html_theme = "pydata_sphinx_theme"
except ImportError:
    html_theme = "alabaster"
html_title = f"fastconv {release}"
