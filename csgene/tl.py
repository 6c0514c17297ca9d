"""AnnData tools in scanpy's manner: fit a model on an AnnData, measure it, recover profiles into it.

Each function takes the ``adata`` first, reads the matrix from ``layer`` (``X`` when None),
writes its results into the object and returns None, or a changed copy with ``copy=True``
(:func:`fit` returns the fitted model as well). What goes where:

==========================================  ======================================================
``varm["csgene_modules"]``                  the learned modules, (n_vars, n_modules) (dictionary methods)
``varm["csgene_design"]``                   the measurement design, (n_vars, n_measurements)
``obsm["X_csgene_measurements"]``           composite measurements, (n_obs, n_measurements)
``layers["csgene_recovered"]``              recovered profiles, (n_obs, n_vars)
``uns["csgene"]``                           method, parameters, design SHA-256, csgene version, layer
==========================================  ======================================================

>>> import csgene.tl as cstl                                             # doctest: +SKIP
>>> model = cstl.fit(adata, "smaf", layer="counts", n_measurements=50)   # doctest: +SKIP
>>> cstl.measure(adata, model, layer="counts", snr=10)                   # doctest: +SKIP
>>> cstl.recover(adata, model)                                           # doctest: +SKIP
>>> adata.layers["csgene_recovered"]                                     # doctest: +SKIP

anndata is an optional extra (``pip install 'csgene[anndata]'``); this module imports without it
and each function names the install when it is missing. Scanpy users usually keep raw counts in
``layers["counts"]`` and log-normalised values in ``X``: fit with ``layer="counts"`` (the default
``preprocess="log1p"`` logs the data itself, and warns when they look logged already).
"""

from __future__ import annotations

import warnings

import numpy as np

from ._optional import require
from ._version import __version__
from .exceptions import InputError

__all__ = ["fit", "measure", "recover", "UNS_KEY", "MEASUREMENTS_KEY", "RECOVERED_KEY"]

#: ``uns`` entry with the parameters of the model, the measurements and the recovery
UNS_KEY = "csgene"
#: ``obsm`` key of the measurements :func:`measure` writes and :func:`recover` reads
MEASUREMENTS_KEY = "X_csgene_measurements"
#: ``layers`` key of the profiles :func:`recover` writes
RECOVERED_KEY = "csgene_recovered"
MODULES_KEY = "csgene_modules"
DESIGN_KEY = "csgene_design"


def _check_adata(adata, function: str):
    anndata = require("anndata", f"csgene.tl.{function}")
    if not isinstance(adata, anndata.AnnData):
        raise InputError(
            f"csgene.tl.{function} takes an AnnData object, got {type(adata).__name__}. For arrays use "
            f"CompressedSensing directly (fit, measure, recover)."
        )


def _matrix(adata, layer: str | None) -> np.ndarray:
    """``adata.X`` or ``adata.layers[layer]`` as a dense float64 array (n_obs, n_vars)."""
    if layer is None:
        X = adata.X
        if X is None:
            raise InputError("adata.X is empty; pass layer= naming the layer that holds the expression values.")
    else:
        if layer not in adata.layers:
            raise InputError(
                f"adata has no layer {layer!r}; its layers are {', '.join(map(repr, adata.layers)) or 'none'}. "
                f"Pass one of them, or layer=None for adata.X."
            )
        X = adata.layers[layer]
    X = X.toarray() if hasattr(X, "toarray") else X  # sparse matrices are densified
    return np.asarray(X, dtype=np.float64)


def _plain(value):
    """A parameter as something ``uns`` can hold and ``write_h5ad`` can write (None left out by callers)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return np.asarray(value)
    return value


def _uns(adata) -> dict:
    entry = adata.uns.get(UNS_KEY)
    if not isinstance(entry, dict):
        entry = adata.uns[UNS_KEY] = {}
    return entry


def fit(adata, method: str = "smaf", *, layer: str | None = None, copy: bool = False, **params):
    """Fit a :class:`~csgene.CompressedSensing` model on the profiles of an AnnData.

    Parameters
    ----------
    adata : anndata.AnnData
        Observations are samples (cells or bulk samples), variables genes; ``var_names`` become
        the model's gene names.
    method : str
        A method of :data:`csgene.methods.METHODS`, e.g. ``"smaf"``.
    layer : str, optional
        Layer holding the profiles (raw counts for the default ``preprocess="log1p"``, e.g.
        ``"counts"``); None uses ``adata.X``. Sparse matrices are densified (n_obs × n_vars
        float64 must fit in memory; select highly variable genes first for large data).
    copy : bool
        Write into a copy of ``adata`` and return it with the model.
    **params
        Further :class:`~csgene.CompressedSensing` parameters (``n_measurements``, ``design``,
        ``preprocess``, ``n_modules``, ``sparsity``, ``snr``, ``random_state``, ...).

    Returns
    -------
    model : CompressedSensing
        The fitted model (``copy=False``), or ``(model, adata_copy)`` with ``copy=True``.

    Notes
    -----
    Writes ``varm["csgene_modules"]`` (dictionary methods), ``varm["csgene_design"]`` and
    ``uns["csgene"]`` (``method``, ``params``, ``design_sha256``, ``version``, ``layer``, ``n_train``).
    """
    from .measure import design_fingerprint
    from .pipeline import CompressedSensing

    _check_adata(adata, "fit")
    adata = adata.copy() if copy else adata
    X = _matrix(adata, layer)
    model = CompressedSensing(method, **params).fit(X, gene_names=np.asarray(adata.var_names).astype(str))
    components = getattr(model.method_, "components_", None)
    if components is not None:
        adata.varm[MODULES_KEY] = np.asarray(components, dtype=np.float64).T
    adata.varm[DESIGN_KEY] = np.asarray(model.design_, dtype=np.float64).T
    entry = _uns(adata)  # records of earlier measurements stay, so recover() can refuse them
    entry.update({
        "method": method,
        "params": _plain({k: v for k, v in model.get_params().items() if k != "design" and v is not None}),
        "design": model.design if isinstance(model.design, str) else "given",
        "design_sha256": design_fingerprint(model.design_),
        "space": model.measurement_marks()["csgene_space"],
        "version": __version__,
        "layer": "X" if layer is None else layer,
        "n_train": int(X.shape[0]),
    })
    return (model, adata) if copy else model


def measure(adata, model, *, layer: str | None = None, snr=None, random_state=None,
            key_added: str = MEASUREMENTS_KEY, copy: bool = False):
    """Simulate the model's composite measurements of every observation into ``obsm[key_added]``.

    Parameters
    ----------
    adata : anndata.AnnData
        Must hold every gene of the model (matched by ``var_names``, in any order).
    model : CompressedSensing
        A fitted model (from :func:`fit`, or ``CompressedSensing.load``).
    layer : str, optional
        Layer of the profiles (the units the model was fitted in); None uses ``adata.X``.
    snr : float, optional
        Signal-to-noise ratio of the noise added before measuring; None uses the model's.
    random_state : int, optional
        Seed of the noise.
    key_added : str
        ``obsm`` key of the measurements (n_obs, n_measurements).
    copy : bool
        Write into a copy and return it.

    Returns
    -------
    anndata.AnnData or None
        The copy with ``copy=True``, else None.

    Notes
    -----
    Also records ``uns["csgene"]["measurements"][key_added]``: ``design_sha256``, ``space``
    and ``snr``, which :func:`recover` checks against its model.
    """
    _check_adata(adata, "measure")
    adata = adata.copy() if copy else adata
    X = _matrix(adata, layer)
    Y = model.measure(X, snr=snr, gene_names=np.asarray(adata.var_names).astype(str), random_state=random_state)
    adata.obsm[key_added] = Y
    marks = model.measurement_marks()
    record = _uns(adata).setdefault("measurements", {})
    record[key_added] = {
        "design_sha256": marks["csgene_design_sha256"],
        "space": marks["csgene_space"],
        "snr": float(model.snr if snr is None else snr),
        "layer": "X" if layer is None else layer,
    }
    return adata if copy else None


def recover(adata, model, *, obsm_key: str = MEASUREMENTS_KEY, key_added: str = RECOVERED_KEY,
            space: str = "original", library_size=None, copy: bool = False):
    """Recover whole profiles from ``obsm[obsm_key]`` into the layer ``key_added``.

    Parameters
    ----------
    adata : anndata.AnnData
        Holds the measurements (n_obs, n_measurements) in ``obsm[obsm_key]``; its ``var_names``
        say where each recovered gene goes.
    model : CompressedSensing
        The fitted model whose design made the measurements (checked against the design SHA-256
        :func:`measure` recorded, when there is one).
    obsm_key : str
        ``obsm`` key of the measurements.
    key_added : str
        Layer written: (n_obs, n_vars), float64; genes of ``adata`` the model does not know are NaN.
    space : {"original", "preprocessed"}
        Units of the result (see :meth:`CompressedSensing.recover`).
    library_size : optional
        For ``log1p-cpm`` models only (see :meth:`CompressedSensing.recover`).
    copy : bool
        Write into a copy and return it.

    Returns
    -------
    anndata.AnnData or None
        The copy with ``copy=True``, else None.

    Raises
    ------
    InputError
        No measurements under ``obsm_key``, measurements of another design, or none of the
        model's genes among ``var_names``.
    """
    _check_adata(adata, "recover")
    if obsm_key not in adata.obsm:
        raise InputError(
            f"adata.obsm has no {obsm_key!r}; its keys are {', '.join(map(repr, adata.obsm)) or 'none'}. "
            f"Measure first (csgene.tl.measure) or pass obsm_key= naming the measurements."
        )
    adata = adata.copy() if copy else adata
    recorded = _uns(adata).get("measurements", {}).get(obsm_key, {})
    marks = {f"csgene_{key}": recorded[key] for key in ("design_sha256", "space") if key in recorded}
    model.check_measurement_marks(marks, f"adata.obsm[{obsm_key!r}]")
    X_hat = model.recover(np.asarray(adata.obsm[obsm_key], dtype=np.float64), space=space,
                          library_size=library_size)
    var_names = np.asarray(adata.var_names).astype(str)
    position = {name: i for i, name in enumerate(var_names.tolist())}
    model_idx = np.array([i for i, g in enumerate(model.gene_names_.tolist()) if g in position], dtype=np.intp)
    if not len(model_idx):
        raise InputError(
            f"none of the model's {len(model.gene_names_)} genes are among adata.var_names, so the "
            f"recovered profiles have nowhere to go; make var_names the model's genes (model.gene_names_)."
        )
    if len(model_idx) < len(model.gene_names_):
        warnings.warn(
            f"{len(model.gene_names_) - len(model_idx)} of the model's {len(model.gene_names_)} genes are not "
            f"in adata.var_names; their recovered values are left out of layers[{key_added!r}].",
            UserWarning, stacklevel=2,
        )
    layer = np.full((adata.n_obs, adata.n_vars), np.nan)
    layer[:, [position[g] for g in model.gene_names_[model_idx].tolist()]] = X_hat[:, model_idx]
    adata.layers[key_added] = layer
    _uns(adata).setdefault("recovered", {})[key_added] = {"from": obsm_key, "space": space}
    return adata if copy else None
