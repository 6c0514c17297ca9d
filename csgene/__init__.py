"""csgene: compressed sensing of gene expression.

Learn a sparse module dictionary from full training profiles and recover whole expression
profiles from a few random composite measurements (Cleary et al. 2017, Bora et al. 2017).
Arrays are (n_samples, n_genes) everywhere.
"""

from ._version import __version__  # noqa: F401
from .exceptions import (  # noqa: F401
    CsgeneError,
    DataFormatError,
    InputError,
    MissingDependencyError,
    ModelFileError,
)

_LAZY = {"CompressedSensing": "pipeline", "read": "io", "make_expression": "datasets"}


def __getattr__(name):  # lazy, so `import csgene` stays fast and needs no extra
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'csgene' has no attribute {name!r}")
