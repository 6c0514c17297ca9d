"""csgene: compressed sensing of gene expression.

Learn a sparse module dictionary from full training profiles and recover whole expression
profiles from a few random composite measurements (Cleary et al. 2017, Bora et al. 2017).
Arrays are (n_samples, n_genes) everywhere.

``import csgene`` loads only this file, the version and the exceptions; every public
submodule (``csgene.io``, ``csgene.metrics``, ``csgene.dictionary``, ...) and the names
``CompressedSensing``, ``read`` and ``make_expression`` are imported on first use
(PEP 562), so the import stays fast and needs no optional extra.
"""

from ._version import __version__  # noqa: F401
from .exceptions import (  # noqa: F401
    CsgeneError,
    DataFormatError,
    InputError,
    MissingDependencyError,
    ModelFileError,
)

#: Names re-exported from submodules, imported on first use.
_LAZY = {"CompressedSensing": "pipeline", "read": "io", "make_expression": "datasets"}


def _submodules() -> list[str]:
    """Public submodules and subpackages: every module of this package not named ``_...``."""
    import pkgutil

    return sorted(info.name for info in pkgutil.iter_modules(__path__) if not info.name.startswith("_"))


def __getattr__(name):  # lazy, so `import csgene` stays fast and needs no extra
    import importlib

    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    if not name.startswith("_") and name in _submodules():
        return importlib.import_module(f".{name}", __name__)  # also binds it as an attribute
    raise AttributeError(f"module 'csgene' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY) | set(_submodules()))


__all__ = ["CsgeneError", "DataFormatError", "InputError", "MissingDependencyError", "ModelFileError",
           "__version__", *_LAZY]
