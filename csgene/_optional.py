"""Import optional dependencies with an error that names the ``pip install`` that fixes it."""

from __future__ import annotations

import importlib

from .exceptions import MissingDependencyError

#: module name -> extra of csgene that installs it
EXTRAS = {
    "torch": "nn",
    "numba.cuda": "cuda",
    "numba_cuda": "cuda",
    "dask": "dask",
    "dask.array": "dask",
    "distributed": "dask",
    "anndata": "anndata",
    "pandas": "test",
    "spams": "bench",
}


def require(module: str, feature: str):
    """Import and return ``module``, or raise :class:`MissingDependencyError`.

    Parameters
    ----------
    module : str
        Importable module name, e.g. ``"torch"``.
    feature : str
        What the user asked for, used in the message (e.g. ``"the MLP decoder"``).
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        extra = EXTRAS.get(module, module.split(".")[0])
        raise MissingDependencyError(
            f"{feature} needs the optional dependency '{module}', which is not installed "
            f"({exc}). Install it with: pip install 'csgene[{extra}]'"
        ) from exc


def available(module: str) -> bool:
    """True when ``module`` can be imported."""
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True
