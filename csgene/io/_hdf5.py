"""ARCHS4 HDF5 files of both generations, read in bounded sorted blocks; csgene's HDF5 output.

Generation 2 (``human_gene_v2*.h5``) stores ``data/expression`` as genes x samples with names in
the groups ``meta/genes`` and ``meta/samples``; generation 1 (``human_matrix.h5``) stores samples x
genes with the gene list in the dataset ``meta/genes`` and samples in ``meta/Sample_geo_accession``.
The orientation is read from the length of the gene list, never guessed from the shape alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import h5py
import numpy as np

from ..exceptions import DataFormatError
from . import _metadata
from ._common import Description, ExpressionData, as_str_array, placeholder_names, provenance

EXPRESSION = "data/expression"
#: gene-name datasets in order of preference; a group ``meta/genes`` means generation 2
GENE_NAME_CANDIDATES = (
    "meta/genes/gene_symbol",
    "meta/genes/symbol",
    "meta/genes/genes",
    "meta/genes/ensembl_gene_id",
    "meta/genes/ensembl_gene",
    "meta/genes",
)
SAMPLE_NAME_CANDIDATES = (
    "meta/samples/geo_accession",
    "meta/Sample_geo_accession",
    "meta/samples/sample",
    "meta/samples",
)
SINGLECELL_CANDIDATES = ("meta/samples/singlecellprobability", "meta/Sample_singlecellprobability")

#: upper bound on the bytes of one block read from disk
BLOCK_BYTES = 1 << 26
#: a sorted selection covering at least this fraction of its span is read as one slice
DENSE_FRACTION = 0.5
#: HDF5 chunk cache per open file, so that fancy reads touching a chunk twice do not re-inflate it
CHUNK_CACHE_BYTES = 1 << 26
#: at most this many values are read by describe() for the value range
DESCRIBE_VALUES = 1 << 21


@dataclass(frozen=True)
class Archs4Layout:
    """Where an ARCHS4-style file keeps its matrix and names, and how the matrix is oriented."""

    generation: int
    genes: str
    samples: str | None
    singlecell: str | None
    sample_axis: int

    @property
    def name(self) -> str:
        return f"archs4-gen{self.generation}"

    @property
    def orientation(self) -> str:
        return "samples x genes" if self.sample_axis == 0 else "genes x samples"


def open_hdf5(path) -> h5py.File:
    try:
        return h5py.File(path, "r", rdcc_nbytes=CHUNK_CACHE_BYTES)
    except OSError as exc:
        raise DataFormatError(
            f"{str(path)!r} could not be opened as HDF5 ({exc}). Check that the file is complete "
            f"(not a partial download) or pass format= to read it as another format."
        ) from exc


def is_anndata(h5: h5py.File) -> bool:
    encoding = h5.attrs.get("encoding-type", b"")
    encoding = encoding.decode() if isinstance(encoding, bytes) else str(encoding)
    return encoding == "anndata" or all(key in h5 for key in ("X", "obs", "var"))


def list_datasets(h5: h5py.File) -> list[str]:
    found = []

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset):
            found.append(f"{name} {obj.shape} {obj.dtype}")

    h5.visititems(visit)
    return found


def _datasets_message(h5: h5py.File) -> str:
    found = list_datasets(h5)
    shown = "; ".join(found[:30]) + (f"; ... ({len(found)} in all)" if len(found) > 30 else "")
    return f"datasets found: {shown or 'none'}"


def _first_vector(h5: h5py.File, candidates) -> str | None:
    for name in candidates:
        obj = h5.get(name)
        if isinstance(obj, h5py.Dataset) and obj.ndim == 1:
            return name
    return None


def detect_layout(h5: h5py.File, path: str) -> Archs4Layout:
    """Find the expression matrix and its names, and the axis that holds samples.

    Raises
    ------
    DataFormatError
        When the file is not ARCHS4-like or its name lists do not fit the matrix; the message
        lists the datasets found.
    """
    expression = h5.get(EXPRESSION)
    if not isinstance(expression, h5py.Dataset) or expression.ndim != 2:
        raise DataFormatError(
            f"{path!r} is HDF5 but not a layout csgene knows: no 2-D dataset '{EXPRESSION}' "
            f"(ARCHS4 generation 1 or 2) and no AnnData groups X/obs/var. {_datasets_message(h5)}. "
            f"Convert it to .h5ad, .npz or CSV, or rename the matrix to '{EXPRESSION}'."
        )
    genes = _first_vector(h5, GENE_NAME_CANDIDATES)
    if genes is None:
        raise DataFormatError(
            f"{path!r} has '{EXPRESSION}' but no gene-name list (looked for "
            f"{', '.join(GENE_NAME_CANDIDATES)}), so its orientation cannot be told. "
            f"{_datasets_message(h5)}."
        )
    samples = _first_vector(h5, SAMPLE_NAME_CANDIDATES)
    generation = 1 if genes == "meta/genes" else 2
    n_genes = h5[genes].shape[0]
    n_samples = None if samples is None else h5[samples].shape[0]
    sample_axis = _sample_axis(expression.shape, n_genes, n_samples, generation, path, h5)
    return Archs4Layout(generation, genes, samples, _first_vector(h5, SINGLECELL_CANDIDATES), sample_axis)


def _sample_axis(shape, n_genes: int, n_samples: int | None, generation: int, path: str, h5) -> int:
    """Axis of ``data/expression`` that holds samples, from the gene list length (and sample list)."""
    rows, cols = shape
    if rows == n_genes and cols != n_genes:
        sample_axis = 1
    elif cols == n_genes and rows != n_genes:
        sample_axis = 0
    elif rows == cols == n_genes:
        # square: the documented convention of the layout (gen 2: genes x samples; gen 1: samples x genes)
        sample_axis = 1 if generation == 2 else 0
    else:
        raise DataFormatError(
            f"{path!r}: '{EXPRESSION}' has shape {shape} but the gene list has {n_genes} names, which "
            f"matches neither axis. {_datasets_message(h5)}. The file may be truncated or its name "
            f"lists belong to another matrix."
        )
    if n_samples is not None and shape[sample_axis] != n_samples:
        raise DataFormatError(
            f"{path!r}: the gene list ({n_genes} names) puts samples on axis {sample_axis} of "
            f"'{EXPRESSION}' {shape}, but the sample list has {n_samples} names. "
            f"{_datasets_message(h5)}."
        )
    return sample_axis


class Archs4Source:
    """An open ARCHS4-style file: names, optional single-cell probabilities, block reads of subsets."""

    def __init__(self, path: str):
        self.path = path
        self.file = open_hdf5(path)
        try:
            self.layout_info = detect_layout(self.file, path)
        except BaseException:
            self.file.close()
            raise
        info = self.layout_info
        self.layout = info.name
        self.dataset = self.file[EXPRESSION]
        self.gene_names = as_str_array(self.file[info.genes][()])
        n_samples = self.dataset.shape[info.sample_axis]
        self.sample_names = (
            placeholder_names("sample", n_samples)
            if info.samples is None
            else as_str_array(self.file[info.samples][()])
        )
        self.attrs = provenance(self.file.attrs)
        self.singlecell = None if info.singlecell is None else self.file[info.singlecell][()]
        if self.singlecell is not None and len(self.singlecell) != n_samples:
            self.singlecell = None
        #: per-sample metadata fields {name: dataset path}, the sample names' own field left out
        self.metadata_fields = _metadata.field_paths(self.file, n_samples, skip=(info.samples,))

    def load_obs(self, sample_idx) -> object:
        """Metadata of the samples ``sample_idx`` (in that order) as a DataFrame (None without pandas)."""
        return _metadata.load_obs(self.file, self.metadata_fields, sample_idx, self.sample_names[sample_idx])

    def match(self, search, series) -> np.ndarray | None:
        """Mask of the samples matching a metadata text search and/or series (see :mod:`._metadata`)."""
        return _metadata.match_mask(self.file, self.metadata_fields, search, series, self.path)

    def load(self, sample_idx, gene_idx, dtype) -> np.ndarray:
        """Values of the sorted unique ``sample_idx`` x ``gene_idx`` (None: all), as (samples, genes)."""
        return load_oriented(self.dataset, self.layout_info.sample_axis, sample_idx, gene_idx, dtype)

    def close(self):
        self.file.close()


def load_oriented(ds, sample_axis: int, sample_idx, gene_idx, dtype) -> np.ndarray:
    """Read a selection of ``ds`` and return it as (samples, genes), transposing once if needed."""
    if sample_axis == 0:
        return read_selection(ds, sample_idx, gene_idx, dtype)
    return np.ascontiguousarray(read_selection(ds, gene_idx, sample_idx, dtype).T)


def read_selection(ds, rows, cols, dtype, max_block_bytes: int = BLOCK_BYTES) -> np.ndarray:
    """Read ``ds[rows][:, cols]`` for sorted unique index arrays (None: all) in bounded blocks.

    At most one axis is fancy-indexed per h5py call (HDF5's restriction); selections dense in their
    span are read as one slice and picked in memory, which HDF5 does much faster than point lists.
    Each block covers at most ``max_block_bytes`` of the file's values.

    Parameters
    ----------
    ds : h5py.Dataset or array-like, 2-D
    rows, cols : ndarray of int, sorted and unique, or None
        On-disk row and column indices; None reads the whole axis.
    dtype : numpy dtype
        dtype of the result.
    max_block_bytes : int
        Bound on the bytes read from ``ds`` per call.

    Returns
    -------
    ndarray of shape (len(rows), len(cols))
    """
    n_rows, n_cols = ds.shape
    rows = np.arange(n_rows) if rows is None else np.asarray(rows, dtype=np.intp)
    cols = np.arange(n_cols) if cols is None else np.asarray(cols, dtype=np.intp)
    out = np.empty((len(rows), len(cols)), dtype=dtype)
    if out.size == 0:
        return out
    col_key, col_take, width = _axis_key(cols)
    max_row_span = max(1, max_block_bytes // (width * ds.dtype.itemsize))
    start = 0
    while start < len(rows):
        stop = int(np.searchsorted(rows, rows[start] + max_row_span, side="left"))
        block_rows = rows[start:stop]
        row_key, row_take, _ = _axis_key(block_rows)
        if not isinstance(row_key, slice) and not isinstance(col_key, slice):
            row_key, row_take = slice(block_rows[0], block_rows[-1] + 1), block_rows - block_rows[0]
        block = ds[row_key, col_key]
        if row_take is not None:
            block = block[row_take]
        if col_take is not None:
            block = block[:, col_take]
        out[start:stop] = block
        start = stop
    return out


def _axis_key(idx: np.ndarray):
    """(h5py key, positions to take from what the key reads or None, number of entries read)."""
    first, last = int(idx[0]), int(idx[-1])
    span = last - first + 1
    if span == len(idx):
        return slice(first, last + 1), None, span
    if len(idx) >= DENSE_FRACTION * span:
        return slice(first, last + 1), idx - first, span
    return idx, None, len(idx)


def describe_archs4(path: str, h5: h5py.File) -> Description:
    info = detect_layout(h5, path)
    ds = h5[EXPRESSION]
    n_samples = ds.shape[info.sample_axis]
    n_genes = ds.shape[1 - info.sample_axis]
    n_probe = max(1, min(n_samples, DESCRIBE_VALUES // max(n_genes, 1)))
    probe = load_oriented(ds, info.sample_axis, np.arange(n_probe), None, np.float64)
    details = {
        "generation": info.generation,
        "chunks": ds.chunks,
        "compression": ds.compression if ds.compression is None else f"{ds.compression} {ds.compression_opts}",
        "gene names": info.genes,
        "sample names": info.samples or "none (placeholders sample_0, ...)",
        "single-cell": info.singlecell or "none",
        "metadata": sorted(_metadata.field_paths(h5, n_samples, skip=(info.samples,))) or "none",
        "value range": value_summary(probe, f"first {n_probe} samples"),
        "datasets": list_datasets(h5),
    }
    return Description(path, "hdf5", info.name, (n_samples, n_genes), str(ds.dtype), info.orientation, details)


def value_summary(values: np.ndarray, where: str) -> str:
    """min, max, fraction of zeros and whether all values are whole numbers, on a small probe."""
    if values.size == 0:
        return f"no values ({where})"
    finite = values[np.isfinite(values)]
    integer = bool(finite.size and np.all(finite == np.round(finite)))
    return (
        f"min {np.nanmin(values):g}, max {np.nanmax(values):g}, {np.mean(values == 0):.0%} zeros, "
        f"{'integers' if integer else 'non-integers'}"
        f"{'' if finite.size == values.size else f', {values.size - finite.size} NaN/inf'} ({where})"
    )


def write_hdf5(handle_path: str, data: ExpressionData) -> None:
    """Write ``data`` in the ARCHS4 generation-2 layout (genes x samples), gzip-compressed."""
    strings = h5py.string_dtype("utf-8")
    with h5py.File(handle_path, "w") as h5:
        X = data.X
        chunks = (min(X.shape[1], 1024), min(X.shape[0], 256)) if X.size else None
        h5.create_dataset(EXPRESSION, data=X.T, chunks=chunks, compression="gzip" if chunks else None)
        h5.create_dataset("meta/genes/symbol", data=data.gene_names.astype(object), dtype=strings)
        h5.create_dataset("meta/samples/geo_accession", data=data.sample_names.astype(object), dtype=strings)
        if data.obs is not None:
            _metadata.write_obs(h5, data.obs, skip=("geo_accession",))
        h5.attrs["csgene_layout"] = "archs4-gen2"
        h5.attrs["csgene_source"] = data.source
        for key, value in data.attrs.items():
            h5.attrs[key] = value
