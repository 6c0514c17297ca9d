"""NumPy ``.npy``/``.npz`` files and AnnData ``.h5ad`` files (through the optional anndata)."""

from __future__ import annotations

import h5py
import numpy as np

from .._optional import require
from ..exceptions import DataFormatError, InputError
from ._common import PROVENANCE_KEYS, Description, ExpressionData, as_str_array, placeholder_names, provenance
from ._hdf5 import read_selection, value_summary

NPZ_MATRIX_KEYS = ("X", "data")
NPZ_GENE_KEYS = ("gene_names", "genes")
NPZ_SAMPLE_KEYS = ("sample_names", "samples")
DESCRIBE_ROWS = 50


def _check_numeric_matrix(values, path: str, what: str) -> None:
    if values.ndim != 2:
        raise DataFormatError(
            f"{path!r}: {what} must be a 2-D matrix (n_samples, n_genes), got shape {values.shape}. "
            f"Reshape it before saving (a single sample is X.reshape(1, -1))."
        )
    if values.dtype.kind not in "biuf":
        raise DataFormatError(
            f"{path!r}: {what} has dtype {values.dtype}, not a number type. Save a float or integer array."
        )


def _load_npy_lazily(path: str):
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as exc:
        raise DataFormatError(
            f"{path!r} could not be read as a .npy array ({exc}). Save numeric arrays with np.save; "
            f"object arrays are refused because loading them would run pickled code."
        ) from exc


def _names(values, n: int, prefix: str, path: str, key: str) -> np.ndarray:
    if values is None:
        return placeholder_names(prefix, n)
    names = as_str_array(values)
    if len(names) != n:
        raise DataFormatError(f"{path!r}: '{key}' has {len(names)} names but the matrix has {n} {prefix}s.")
    return names


class ArraySource:
    """A ``.npy`` (memory-mapped) or ``.npz`` matrix, optionally transposed (genes as rows)."""

    def __init__(self, path: str, kind: str, transpose: bool):
        self.path = path
        self.layout = kind + (" (transposed)" if transpose else "")
        self.singlecell = None
        if kind == "npy":
            values, genes, samples = _load_npy_lazily(path), None, None
            what = "the array"
        else:
            values, genes, samples, what = _load_npz(path)
        _check_numeric_matrix(values, path, what)
        self.values = values.T if transpose else values
        self.gene_names = _names(genes, self.values.shape[1], "gene", path, "gene_names")
        self.sample_names = _names(samples, self.values.shape[0], "sample", path, "sample_names")
        self.attrs = {}
        if kind == "npz":
            with np.load(path, allow_pickle=False) as npz:
                self.attrs = provenance({key: npz[key] for key in npz.files if key in PROVENANCE_KEYS})

    def load(self, sample_idx, gene_idx, dtype) -> np.ndarray:
        values = self.values if sample_idx is None else self.values[sample_idx]
        values = values if gene_idx is None else values[:, gene_idx]
        return np.array(values, dtype=dtype, order="C")

    def close(self):
        self.values = None


def _first_key(keys, candidates):
    return next((key for key in candidates if key in keys), None)


def _load_npz(path: str):
    try:
        with np.load(path, allow_pickle=False) as npz:
            keys = list(npz.keys())
            matrix_key = _first_key(keys, NPZ_MATRIX_KEYS)
            if matrix_key is None:
                raise DataFormatError(
                    f"{path!r} has no matrix under the keys {' or '.join(NPZ_MATRIX_KEYS)} (keys found: "
                    f"{', '.join(keys) or 'none'}). Save it with np.savez(path, X=X, gene_names=..., "
                    f"sample_names=...)."
                )
            gene_key, sample_key = _first_key(keys, NPZ_GENE_KEYS), _first_key(keys, NPZ_SAMPLE_KEYS)
            return (
                npz[matrix_key],
                None if gene_key is None else npz[gene_key],
                None if sample_key is None else npz[sample_key],
                f"'{matrix_key}'",
            )
    except (ValueError, OSError) as exc:
        if isinstance(exc, DataFormatError):
            raise
        raise DataFormatError(
            f"{path!r} could not be read as .npz ({exc}). Save names as string arrays (not object "
            f"arrays) with np.savez(path, X=X, gene_names=np.array(names, dtype=str))."
        ) from exc


class H5adSource:
    """An AnnData file opened in backed mode: obs are samples, var are genes; X (or a layer) is
    read by selection, without loading the whole matrix."""

    def __init__(self, path: str, layer: str | None = None):
        anndata = require("anndata", "reading .h5ad files")
        self.path = path
        self.layout = "h5ad" if layer is None else f"h5ad (layer {layer!r})"
        self.singlecell = None
        self.layer = layer
        try:
            self.adata = anndata.read_h5ad(path, backed="r")
        except Exception as exc:  # anndata raises many types for a malformed file
            raise DataFormatError(f"{path!r} could not be read as .h5ad by anndata ({exc}).") from exc
        try:
            self.matrix = self._layer_matrix(anndata, layer) if layer is not None else self._x_matrix()
        except BaseException:
            self.close()
            raise
        self.sample_names = as_str_array(self.adata.obs_names)
        self.gene_names = as_str_array(self.adata.var_names)
        self.attrs = provenance(self.adata.uns)

    def _x_matrix(self):
        if "X" not in self.adata.file or self.adata.X is None:  # backed X of a file without one raises
            layers = self._layer_names()
            raise DataFormatError(
                f"{self.path!r} has no X matrix; csgene reads expression from X"
                + (f" or a layer: pass layer= one of {', '.join(map(repr, layers))}." if layers else ".")
            )
        return self.adata.X

    def _layer_names(self) -> list[str]:
        group = self.adata.file["layers"] if "layers" in self.adata.file else None
        return [] if group is None else list(group.keys())

    def _layer_matrix(self, anndata, layer: str):
        """The layer as an h5py dataset (dense) or a backed sparse dataset, not read into memory."""
        layers = self._layer_names()
        if layer not in layers:
            raise InputError(
                f"{self.path!r} has no layer {layer!r}; its layers are "
                f"{', '.join(map(repr, layers)) or 'none'}. Pass one of them, or layer=None for X."
            )
        element = self.adata.file["layers"][layer]
        if isinstance(element, h5py.Dataset):
            return element
        sparse_dataset = getattr(getattr(anndata, "io", None), "sparse_dataset", None) or \
            anndata.experimental.sparse_dataset
        return sparse_dataset(element)

    def load(self, sample_idx, gene_idx, dtype) -> np.ndarray:
        X = self.matrix
        if isinstance(X, h5py.Dataset):
            return read_selection(X, sample_idx, gene_idx, dtype)
        if hasattr(X, "to_memory"):  # backed sparse dataset
            X = X.to_memory() if sample_idx is None else X[sample_idx]
        elif sample_idx is not None:
            X = X[sample_idx]
        if gene_idx is not None:
            X = X[:, gene_idx]
        X = X.toarray() if hasattr(X, "toarray") else X
        return np.array(X, dtype=dtype, order="C")

    def load_obs(self, sample_idx):
        """The file's ``obs`` rows of ``sample_idx``, in that order (a copy)."""
        return self.adata.obs.iloc[np.asarray(sample_idx, dtype=np.intp)].copy()

    def close(self):
        if getattr(self.adata, "file", None) is not None:
            self.adata.file.close()


def describe_arrays(path: str, kind: str) -> Description:
    if kind == "npy":
        values = _load_npy_lazily(path)
        details = {}
    else:
        values, genes, samples, what = _load_npz(path)
        details = {"matrix key": what, "gene names": genes is not None, "sample names": samples is not None}
    _check_numeric_matrix(values, path, "the matrix")
    probe = np.asarray(values[:DESCRIBE_ROWS], dtype=np.float64)
    details["value range"] = value_summary(probe, f"first {len(probe)} rows")
    details["note"] = "rows are taken as samples; pass transpose=True if rows are genes"
    return Description(path, kind, kind, values.shape, str(values.dtype), "rows x columns", details)


def describe_h5ad(path: str) -> Description:
    source = H5adSource(path)
    try:
        X = source.adata.X
        n_probe = min(source.adata.n_obs, DESCRIBE_ROWS)
        probe = source.load(np.arange(n_probe), None, np.float64)
        details = {
            "X storage": type(X).__name__,
            "obs columns": list(source.adata.obs.columns),
            "var columns": list(source.adata.var.columns),
            "layers": list(source.adata.layers.keys()),
            "value range": value_summary(probe, f"first {n_probe} samples"),
        }
        return Description(path, "h5ad", "h5ad", source.adata.shape, str(X.dtype), "obs x var", details)
    finally:
        source.close()


def write_npz(path: str, data: ExpressionData) -> None:
    with open(path, "wb") as fh:
        np.savez_compressed(fh, X=data.X, gene_names=data.gene_names, sample_names=data.sample_names,
                            **{key: np.str_(value) for key, value in data.attrs.items()})


def write_npy(path: str, data: ExpressionData) -> None:
    with open(path, "wb") as fh:
        np.save(fh, data.X)


def write_h5ad(path: str, data: ExpressionData) -> None:
    anndata = require("anndata", "writing .h5ad files")
    pandas = require("pandas", "writing .h5ad files")
    index = pandas.Index(data.sample_names.tolist(), dtype=str)
    obs = pandas.DataFrame(index=index) if data.obs is None else data.obs.set_axis(index, axis=0)
    adata = anndata.AnnData(
        X=data.X,
        obs=obs,
        var=pandas.DataFrame(index=pandas.Index(data.gene_names.tolist(), dtype=str)),
    )
    adata.uns["csgene_source"] = data.source
    adata.uns.update(data.attrs)
    adata.write_h5ad(path)
