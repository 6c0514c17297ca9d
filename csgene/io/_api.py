"""The entry points: :func:`read`, :func:`write` and :func:`describe`, dispatching on the format."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .._atomic import atomic_path
from .._optional import require
from .._random import check_random_state
from ..exceptions import InputError
from . import _arrays, _hdf5, _text
from ._common import (
    Description,
    ExpressionData,
    check_dtype,
    check_path_exists,
    check_unique_genes,
    check_values,
    choose_indices,
    resolve_request,
    singlecell_keep_mask,
)

#: formats read and written, and the file name endings that imply them
FORMATS = ("hdf5", "h5ad", "csv", "tsv", "npy", "npz")
SUFFIX_FORMATS = {
    ".h5": "hdf5",
    ".hdf5": "hdf5",
    ".hdf": "hdf5",
    ".h5ad": "h5ad",
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".txt": "tsv",
    ".npy": "npy",
    ".npz": "npz",
}
FORMAT_ALIASES = {"h5": "hdf5", "archs4": "hdf5", "anndata": "h5ad"}
COMPRESSIBLE = ("csv", "tsv")
TRANSPOSABLE = ("csv", "tsv", "npy", "npz")


def detect_format(path: Path, format: str | None = None) -> tuple[str, bool]:
    """(format, gzipped) from ``format=`` or else from the file name's ending.

    Raises
    ------
    InputError
        For an unknown ``format=`` or file ending, listing those known.
    """
    suffixes = [s.lower() for s in path.suffixes]
    gzipped = bool(suffixes) and suffixes[-1] == ".gz"
    if format is not None:
        fmt = FORMAT_ALIASES.get(str(format).lower(), str(format).lower())
        if fmt not in FORMATS:
            raise InputError(f"format={format!r} is not known; use one of {', '.join(FORMATS)}.")
        return fmt, gzipped
    ending = suffixes[-2] if gzipped and len(suffixes) > 1 else (suffixes[-1] if suffixes else "")
    fmt = SUFFIX_FORMATS.get(ending)
    if fmt is None or (gzipped and fmt not in COMPRESSIBLE):
        known = ", ".join(list(SUFFIX_FORMATS) + [".csv.gz", ".tsv.gz"])
        raise InputError(
            f"cannot tell the format of {str(path)!r} from its name ending {''.join(suffixes[-2:]) or '(none)'!r}. "
            f"Known endings: {known}. Rename the file or pass format= (one of {', '.join(FORMATS)})."
        )
    return fmt, gzipped


def _open_source(path: str, fmt: str, transpose: bool, layer: str | None = None):
    if layer is not None and not (fmt in ("hdf5", "h5ad") and _is_h5ad(path, fmt)):
        raise InputError(
            f"layer={layer!r} applies to AnnData (.h5ad) files only; {path!r} is read as {fmt}, which "
            f"has one matrix. Leave layer out."
        )
    if transpose and fmt not in TRANSPOSABLE:
        raise InputError(
            f"transpose=True applies to {', '.join(TRANSPOSABLE)} files only; the orientation of "
            f"{fmt} files is known ({'detected from the gene list' if fmt == 'hdf5' else 'obs are samples'})."
        )
    if fmt in ("hdf5", "h5ad"):
        return _arrays.H5adSource(path, layer) if _is_h5ad(path, fmt) else _hdf5.Archs4Source(path)
    if fmt in ("csv", "tsv"):
        return _text.TableSource(path, "," if fmt == "csv" else "\t", transpose, fmt)
    return _arrays.ArraySource(path, fmt, transpose)


def _is_h5ad(path: str, fmt: str) -> bool:
    """An AnnData file: named .h5ad, or an HDF5 file holding AnnData's groups."""
    if fmt == "h5ad":
        return True
    with _hdf5.open_hdf5(path) as h5:
        return _hdf5.is_anndata(h5)


def read(
    path,
    *,
    samples=None,
    genes=None,
    n_samples: int | None = None,
    n_genes: int | None = None,
    random_state=None,
    dtype=np.float32,
    transpose: bool = False,
    singlecell_threshold: float | None = None,
    format: str | None = None,
    allow_negative: bool = False,
    make_unique: bool = False,
    layer: str | None = None,
    search: str | None = None,
    series=None,
) -> ExpressionData:
    """Read an expression matrix as (n_samples, n_genes), optionally a subset of it.

    Parameters
    ----------
    path : str or path-like
        ARCHS4 HDF5 (generation 1 or 2, orientation detected), ``.h5ad``, ``.csv``/``.tsv``
        (optionally ``.gz``; rows are samples, first column ids, header row gene names),
        ``.npy`` or ``.npz`` (matrix under ``X`` or ``data``, optional ``gene_names``/``sample_names``).
    samples, genes : array-like of int, str or bool, optional
        Indices, names or a full-length boolean mask; the result keeps the order asked for.
    n_samples, n_genes : int, optional
        Draw a random subset of this size (of the ``samples``/``genes`` selection if given),
        kept in file order. Samples are drawn before genes from one generator.
    random_state : int, RandomState, Generator or None
        Seed of the random subsets (``n_samples=10000, n_genes=500, random_state=0`` as in Cleary et al.).
    dtype : {np.float32, np.float64}
        dtype of ``X``.
    transpose : bool
        The file has genes as rows (CSV/TSV/npy/npz only).
    singlecell_threshold : float, optional
        Drop samples whose ARCHS4 ``singlecellprobability`` is >= this (e.g. 0.5), before the
        random draw.
    format : {"hdf5", "h5ad", "csv", "tsv", "npy", "npz"}, optional
        Override the format implied by the file name.
    allow_negative : bool
        Accept negative values (log-ratios, centred data); counts are expected otherwise.
    make_unique : bool
        Append ``-1``, ``-2``, ... to duplicated gene names instead of raising.
    layer : str, optional
        AnnData files only: read this layer (e.g. ``"counts"``, where scanpy users keep raw
        counts when ``X`` is log-normalised) instead of ``X``.
    search : str, optional
        ARCHS4 files only: keep the samples whose title, source name or characteristics
        (``meta/samples/title``, ``source_name_ch1``, ``characteristics_ch1``) contain this
        text, case ignored, like archs4py's ``meta(file, "myoblast")``.
    series : str or list of str, optional
        ARCHS4 files only: keep the samples of these GEO series (``"GSE64016"``; a sample
        listed in several series matches any of them). With ``search``, samples must match both;
        with ``samples``, both select (in the order of ``samples``); the single-cell filter and
        the random ``n_samples`` draw apply after them.

    Returns
    -------
    ExpressionData
        ``X`` (n_samples, n_genes), ``gene_names``, ``sample_names``, ``source``, ``layout``,
        and ``obs``: the samples' metadata as a pandas DataFrame (AnnData ``obs``; ARCHS4's
        per-sample fields such as ``title``, ``series_id``, ``characteristics_ch1``), or None
        for formats without metadata or without pandas.

    Raises
    ------
    InputError
        Missing file (also a FileNotFoundError), unknown ending, bad selection, unknown names,
        NaN/inf or negative values, duplicated gene names, non-numeric CSV cells.
    DataFormatError
        A file whose layout is not recognised (the message lists what was found), ragged rows.

    Examples
    --------
    >>> data = read("human_gene_v2.2.h5", n_samples=10000, n_genes=500, random_state=0)  # doctest: +SKIP
    >>> data.X.shape  # doctest: +SKIP
    (10000, 500)
    """
    path = check_path_exists(path)
    dtype = check_dtype(dtype)
    fmt, _ = detect_format(path, format)
    source = _open_source(str(path), fmt, transpose, layer)
    try:
        return _read_selection(
            source, str(path), samples, genes, n_samples, n_genes, random_state, dtype,
            singlecell_threshold, allow_negative, make_unique, search, series,
        )
    finally:
        source.close()


def _read_selection(
    source, path, samples, genes, n_samples, n_genes, random_state, dtype,
    singlecell_threshold, allow_negative, make_unique, search=None, series=None,
) -> ExpressionData:
    rng = check_random_state(random_state)
    keep = _metadata_keep_mask(source, search, series, path)
    singlecell = singlecell_keep_mask(source.singlecell, singlecell_threshold, path)
    if singlecell is not None:
        keep = singlecell if keep is None else keep & singlecell
    sample_request = resolve_request(samples, source.sample_names, "samples", path)
    gene_request = resolve_request(genes, source.gene_names, "genes", path)
    n_all_samples, n_all_genes = len(source.sample_names), len(source.gene_names)
    sample_idx = choose_indices(n_all_samples, sample_request, keep, n_samples, rng, "samples", path)
    gene_idx = choose_indices(n_all_genes, gene_request, None, n_genes, rng, "genes", path)
    X = _load_in_order(source, sample_idx, gene_idx, n_all_samples, n_all_genes, dtype)
    data = ExpressionData(
        X,
        check_unique_genes(source.gene_names[gene_idx], make_unique, path),
        source.sample_names[sample_idx],
        path,
        source.layout,
        getattr(source, "attrs", {}),
        source.load_obs(sample_idx) if hasattr(source, "load_obs") else None,
    )
    check_values(data, allow_negative)
    return data


def read_metadata(path, *, samples=None, search: str | None = None, series=None,
                  singlecell_threshold: float | None = None, format: str | None = None):
    """The per-sample metadata of a file, without reading its expression values.

    Like archs4py's ``meta`` and ``series`` lookups, but returning only the metadata: use it to
    see which samples a ``search``/``series`` selects before reading them with :func:`read`.

    Parameters
    ----------
    path : str or path-like
        An ARCHS4 HDF5 file (metadata under ``meta/samples``) or an AnnData ``.h5ad`` file (``obs``).
    samples, search, series, singlecell_threshold, format
        Select samples as :func:`read` does (no random draw).

    Returns
    -------
    pandas.DataFrame
        One row per selected sample, indexed by sample name, in file order (or the order of
        ``samples``).

    Raises
    ------
    MissingDependencyError
        pandas is not installed.
    InputError
        A format without per-sample metadata, or a selection that selects nothing.

    Examples
    --------
    >>> meta = read_metadata("human_gene_v2.4.h5", search="myoblast")  # doctest: +SKIP
    >>> meta["series_id"].value_counts()  # doctest: +SKIP
    """
    require("pandas", "read_metadata")
    path = check_path_exists(path)
    fmt, _ = detect_format(path, format)
    source = _open_source(str(path), fmt, False)
    try:
        if not hasattr(source, "load_obs"):
            raise InputError(
                f"{str(path)!r} is a {source.layout} file, which holds no per-sample metadata; ARCHS4 HDF5 "
                f"and .h5ad files do."
            )
        keep = _metadata_keep_mask(source, search, series, str(path))
        singlecell = singlecell_keep_mask(source.singlecell, singlecell_threshold, str(path))
        if singlecell is not None:
            keep = singlecell if keep is None else keep & singlecell
        request = resolve_request(samples, source.sample_names, "samples", str(path))
        idx = choose_indices(len(source.sample_names), request, keep, None, None, "samples", str(path))
        obs = source.load_obs(idx)
        import pandas

        return obs if obs is not None else pandas.DataFrame(index=pandas.Index(source.sample_names[idx], dtype=str))
    finally:
        source.close()


def _metadata_keep_mask(source, search, series, path: str) -> np.ndarray | None:
    """Mask of the samples a metadata ``search``/``series`` selects (None: no such selection)."""
    if search is None and series is None:
        return None
    if not hasattr(source, "match"):
        raise InputError(
            f"search= and series= select samples by ARCHS4 metadata, but {path!r} is a {source.layout} file "
            f"without it. Select samples by name or index with samples= instead."
        )
    return source.match(search, series)


def _load_in_order(source, sample_idx, gene_idx, n_all_samples, n_all_genes, dtype) -> np.ndarray:
    """Read sorted indices (None when everything is asked for), then restore the asked order."""
    sample_order, gene_order = np.argsort(sample_idx, kind="stable"), np.argsort(gene_idx, kind="stable")
    sorted_samples, sorted_genes = sample_idx[sample_order], gene_idx[gene_order]
    X = source.load(
        None if len(sorted_samples) == n_all_samples else sorted_samples,
        None if len(sorted_genes) == n_all_genes else sorted_genes,
        dtype,
    )
    sample_back, gene_back = np.argsort(sample_order), np.argsort(gene_order)
    if not _is_identity(sample_back):
        X = X[sample_back]
    if not _is_identity(gene_back):
        X = X[:, gene_back]
    return np.ascontiguousarray(X)


def _is_identity(order: np.ndarray) -> bool:
    return bool(np.array_equal(order, np.arange(len(order))))


def describe(path, *, format: str | None = None) -> Description:
    """Summarise a data file without reading all of it.

    Returns a :class:`Description` (a dict with a readable ``str()``): format, layout/generation,
    on-disk orientation, shape as (n_samples, n_genes) as :func:`read` would return it, dtype,
    chunking and compression, the name datasets found and the value range on a small probe.
    Text tables are counted line by line (cheap for files of a few hundred samples).
    """
    path = check_path_exists(path)
    fmt, _ = detect_format(path, format)
    name = str(path)
    if fmt == "hdf5":
        with _hdf5.open_hdf5(name) as h5:
            if not _hdf5.is_anndata(h5):
                return _hdf5.describe_archs4(name, h5)
        return _arrays.describe_h5ad(name)
    if fmt == "h5ad":
        return _arrays.describe_h5ad(name)
    if fmt in ("csv", "tsv"):
        return _text.describe_table(name, "," if fmt == "csv" else "\t", fmt)
    return _arrays.describe_arrays(name, fmt)


# --------------------------------------------------------------------------- writing


def _write_table(delimiter):
    def write_table(path, data, compress):
        _text.write_table(path, data, delimiter, compress)

    return write_table


WRITERS = {
    "csv": _write_table(","),
    "tsv": _write_table("\t"),
    "hdf5": lambda path, data, compress: _hdf5.write_hdf5(path, data),
    "h5ad": lambda path, data, compress: _arrays.write_h5ad(path, data),
    "npz": lambda path, data, compress: _arrays.write_npz(path, data),
    "npy": lambda path, data, compress: _arrays.write_npy(path, data),
}


def write(path, data, *, format: str | None = None) -> Path:
    """Write expression data atomically (a temporary file in the same folder, then ``os.replace``).

    Parameters
    ----------
    path : str or path-like
        Output file; its ending picks the format (``.csv``, ``.csv.gz``, ``.tsv``, ``.tsv.gz``,
        ``.h5`` (ARCHS4 generation-2 layout), ``.h5ad``, ``.npz``, ``.npy`` (no names)).
    data : ExpressionData or array-like of shape (n_samples, n_genes)
        Arrays get placeholder names ``sample_0, ...`` and ``gene_0, ...``.
    format : str, optional
        Override the format implied by the ending.

    Returns
    -------
    Path
        The path written. Reading it with :func:`read` gives back the same values and names.
    """
    path = Path(os.fspath(path)).expanduser()
    data = data if isinstance(data, ExpressionData) else ExpressionData.from_array(data)
    if data.X.dtype.kind not in "biuf":
        raise InputError(f"cannot write data of dtype {data.X.dtype}; X must be numeric.")
    fmt, compress = detect_format(path, format)
    if not path.parent.is_dir():
        raise InputError(f"cannot write {str(path)!r}: folder {str(path.parent)!r} does not exist; create it first.")
    with atomic_path(path) as tmp:
        WRITERS[fmt](tmp, data, compress)
    return path
