"""Sphinx configuration of csgene's API reference (built from the numpydoc docstrings).

Build: ``pip install -e '.[docs]'`` then ``sphinx-build -b html docs docs/_build/html``.
"""

import os
import sys

sys.path.insert(0, os.path.abspath(".."))  # the checkout, not an installed copy

from csgene import __version__  # noqa: E402

project = "csgene"
author = "csgene developers"
copyright = "2026, csgene developers"
version = release = __version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.viewcode",
    "numpydoc",
]
autosummary_generate = True
autodoc_default_options = {"members": True, "inherited-members": False, "show-inheritance": True}
#: scikit-learn's metadata-routing setters (set_fit_request, ...) are generated, not csgene's API
autodoc_default_options["exclude-members"] = ",".join(
    f"set_{method}_request" for method in ("fit", "transform", "inverse_transform", "predict", "score")
)
autodoc_mock_imports = []  # every module imports without its optional extra
numpydoc_show_class_members = False  # autodoc lists the members once
numpydoc_validation_checks = set()
templates_path = ["_templates"]  # module pages document every public member
exclude_patterns = ["_build"]
html_theme = "alabaster"
html_static_path = []
