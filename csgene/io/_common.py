"""Pieces shared by every reader: the result type, name handling, selection and value checks."""

from __future__ import annotations

import hashlib
import numbers
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .._validation import check_positive_float, check_positive_int
from ..exceptions import InputError

#: provenance marks csgene writes into the files it makes and checks when it reads them back
PROVENANCE_KEYS = ("csgene_design_sha256", "csgene_model", "csgene_space")

#: how many names an error message shows before "..."
SHOWN_NAMES = 5


class DataFileNotFoundError(InputError, FileNotFoundError):
    """A data file does not exist; catchable as :class:`FileNotFoundError` and as :class:`InputError`."""


@dataclass(repr=False)
class ExpressionData:
    """An expression matrix with its names, oriented (n_samples, n_genes).

    Attributes
    ----------
    X : ndarray of shape (n_samples, n_genes)
        Expression values, float32 or float64.
    gene_names : ndarray of str, shape (n_genes,)
    sample_names : ndarray of str, shape (n_samples,)
    source : str
        Path the data was read from (empty for data built in memory).
    layout : str
        Layout of the source, e.g. ``"archs4-gen2"``, ``"archs4-gen1"``, ``"csv"``, ``"h5ad"``.
    attrs : dict of str -> str
        csgene's provenance marks (keys of :data:`PROVENANCE_KEYS`, e.g. the SHA-256 of the
        design that made a measurements file). Every format but ``.npy`` writes and reads them
        back: HDF5 attributes, AnnData ``uns``, ``.npz`` keys, and for CSV/TSV the header's
        first cell (``sample csgene_design_sha256=...``).
    obs : pandas.DataFrame or None
        Per-sample metadata, one row per sample in the order of ``X``, indexed by
        ``sample_names``: an AnnData file's ``obs``, or an ARCHS4 file's sample metadata
        (title, source name, characteristics, series, ...). None when the source has none (CSV,
        npy, npz) or pandas is not installed. ``.h5ad`` and csgene's ``.h5`` files write it
        back (HDF5: one string dataset per column under ``meta/samples``).
    """

    X: np.ndarray
    gene_names: np.ndarray
    sample_names: np.ndarray
    source: str = ""
    layout: str = "memory"
    attrs: dict = field(default_factory=dict)
    obs: object = None

    def __post_init__(self):
        self.attrs = provenance(self.attrs)
        self.gene_names = as_str_array(self.gene_names)
        self.sample_names = as_str_array(self.sample_names)
        if self.obs is not None:
            if len(self.obs) != len(self.sample_names):
                raise InputError(
                    f"ExpressionData.obs has {len(self.obs)} rows but there are {len(self.sample_names)} "
                    f"samples; obs needs one row per sample, in the order of X."
                )
            self.obs = self.obs.set_axis(self.sample_names.tolist(), axis=0)
        if self.X.ndim != 2:
            raise InputError(f"ExpressionData.X must be 2-D (n_samples, n_genes), got shape {self.X.shape}.")
        expected = (len(self.sample_names), len(self.gene_names))
        if self.X.shape != expected:
            raise InputError(
                f"ExpressionData.X has shape {self.X.shape} but there are {expected[0]} sample names "
                f"and {expected[1]} gene names; X must be (n_samples, n_genes)."
            )

    @property
    def n_samples(self) -> int:
        return self.X.shape[0]

    @property
    def n_genes(self) -> int:
        return self.X.shape[1]

    @classmethod
    def from_array(cls, X, gene_names=None, sample_names=None, *, source: str = "", layout: str = "memory"):
        """Wrap a 2-D array, naming genes ``gene_0, ...`` and samples ``sample_0, ...`` when not given."""
        X = np.asarray(X)
        if X.ndim != 2:
            raise InputError(f"expression data must be 2-D (n_samples, n_genes), got shape {X.shape}.")
        if gene_names is None:
            gene_names = placeholder_names("gene", X.shape[1])
        if sample_names is None:
            sample_names = placeholder_names("sample", X.shape[0])
        return cls(X, gene_names, sample_names, source, layout)

    def __repr__(self) -> str:
        return (
            f"ExpressionData({self.n_samples} samples x {self.n_genes} genes, dtype={self.X.dtype}, "
            f"layout={self.layout!r}, source={self.source!r})"
        )


class Description(dict):
    """What :func:`csgene.io.describe` found: a dict whose ``str()`` is a readable summary.

    Keys always present: ``path``, ``format``, ``layout``, ``shape`` ((n_samples, n_genes) as read
    by :func:`csgene.io.read`, or None when unknown), ``dtype``, ``orientation`` (on disk); then
    format-specific entries such as ``chunks``, ``compression`` and ``value range``.
    """

    def __init__(self, path, format, layout, shape, dtype=None, orientation=None, details=None):
        super().__init__(
            path=str(path), format=format, layout=layout, shape=None if shape is None else tuple(shape),
            dtype=dtype, orientation=orientation, **(details or {}),
        )

    def __str__(self) -> str:
        shape = self["shape"]
        lines = [
            self["path"],
            f"  {'format':<14}{self['format']} ({self['layout']})",
            f"  {'shape':<14}" + ("unknown" if shape is None else f"{shape[0]} samples x {shape[1]} genes"),
        ]
        for key, value in self.items():
            if key in ("path", "format", "layout", "shape") or value is None:
                continue
            if isinstance(value, list) and len(value) > 8:
                value = ", ".join(map(str, value[:8])) + f", ... ({len(value)} in all)"
            elif isinstance(value, list):
                value = ", ".join(map(str, value)) or "none"
            lines.append(f"  {key:<14}{value}")
        return "\n".join(lines)


def provenance(mapping) -> dict:
    """The :data:`PROVENANCE_KEYS` entries of a mapping (file attributes, ``uns``, npz keys) as str."""
    out = {}
    for key in PROVENANCE_KEYS:
        value = mapping.get(key) if mapping is not None else None
        if value is None:
            continue
        value = np.asarray(value).reshape(-1)[0] if np.ndim(value) else value
        out[key] = value.decode() if isinstance(value, bytes) else str(value)
    return out


#: files up to this size are hashed whole; larger ones by FINGERPRINT_BLOCKS evenly spaced blocks
FINGERPRINT_WHOLE_BYTES = 256 * 2**20
FINGERPRINT_BLOCKS = 64
FINGERPRINT_BLOCK_BYTES = 2**20


def file_fingerprint(path) -> dict:
    """Identity of a data file's content: size, mtime and a SHA-256.

    Files up to :data:`FINGERPRINT_WHOLE_BYTES` are hashed whole (``"hashed": "whole"``), so
    the fingerprint changes exactly when the content does; larger files hash the first, last
    and evenly spaced blocks (``"sampled"``), and their mtime counts as part of the identity.
    """
    path = Path(path)
    stat = path.stat()
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        if stat.st_size <= FINGERPRINT_WHOLE_BYTES:
            hashed = "whole"
            for chunk in iter(lambda: fh.read(FINGERPRINT_BLOCK_BYTES), b""):
                digest.update(chunk)
        else:
            hashed = "sampled"
            last = stat.st_size - FINGERPRINT_BLOCK_BYTES
            for i in range(FINGERPRINT_BLOCKS):
                fh.seek(last * i // (FINGERPRINT_BLOCKS - 1))
                digest.update(fh.read(FINGERPRINT_BLOCK_BYTES))
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": digest.hexdigest(), "hashed": hashed}


def same_file_content(old: dict, new: dict) -> bool:
    """Whether two :func:`file_fingerprint` results describe the same content."""
    keys = ("size", "sha256", "hashed") + (("mtime_ns",) if new.get("hashed") == "sampled" else ())
    return all(old.get(key) == new.get(key) for key in keys)


def check_path_exists(path) -> Path:
    """Return ``path`` as a Path, or raise :class:`DataFileNotFoundError` naming it."""
    path = Path(os.fspath(path)).expanduser()
    if not path.exists():
        raise DataFileNotFoundError(
            f"data file {str(path)!r} does not exist. Check the path (relative paths are resolved "
            f"from {os.getcwd()!r})."
        )
    if path.is_dir():
        raise InputError(f"{str(path)!r} is a directory; pass the path of a data file inside it.")
    return path


def placeholder_names(prefix: str, n: int) -> np.ndarray:
    return np.array([f"{prefix}_{i}" for i in range(n)], dtype=str)


def as_str_array(values) -> np.ndarray:
    """Names as a 1-D array of ``str``, decoding bytes (HDF5 fixed-length or variable-length) as UTF-8."""
    arr = np.asarray(values)
    if arr.ndim != 1:
        arr = arr.reshape(-1)
    if arr.dtype.kind == "S":
        return np.char.decode(arr, "utf-8", errors="replace").astype(str)
    if arr.dtype == object:
        return np.array(
            [v.decode("utf-8", errors="replace") if isinstance(v, bytes) else str(v) for v in arr], dtype=str
        )
    return arr.astype(str)


def describe_names(names, limit: int = SHOWN_NAMES, quote: bool = True) -> str:
    """The first few names (quoted) or indices (``quote=False``), with the total when cut short."""
    names = [str(n) for n in names]
    shown = ", ".join((repr(n) if quote else n) for n in names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def make_unique(names: np.ndarray) -> np.ndarray:
    """Append ``-1``, ``-2``, ... to repeated names (like anndata's ``var_names_make_unique``)."""
    seen: dict[str, int] = {}
    taken = set(names.tolist())
    out = []
    for name in names.tolist():
        if name not in seen:
            seen[name] = 0
            out.append(name)
            continue
        while True:
            seen[name] += 1
            candidate = f"{name}-{seen[name]}"
            if candidate not in taken:
                break
        taken.add(candidate)
        out.append(candidate)
    return np.array(out, dtype=str)


def duplicated(names: np.ndarray) -> np.ndarray:
    """Names that occur more than once, each listed once, in order of first repeat."""
    uniq, counts = np.unique(names, return_counts=True)
    return uniq[counts > 1]


# --------------------------------------------------------------------------- selection


def resolve_request(request, names: np.ndarray, axis: str, path: str) -> np.ndarray | None:
    """Turn a caller's ``samples=``/``genes=`` request into integer indices in the caller's order.

    ``request`` may be None (everything), integer indices, a boolean mask of full length, or names.
    """
    if request is None:
        return None
    if isinstance(request, (str, bytes, numbers.Integral)):
        request = [request]
    arr = np.asarray(request)
    if arr.ndim != 1:
        raise InputError(f"{axis}= must be a 1-D list of indices or names, got an array of shape {arr.shape}.")
    n = len(names)
    if arr.dtype == bool:
        if len(arr) != n:
            raise InputError(
                f"{axis}= is a boolean mask of length {len(arr)} but {path!r} has {n} {axis}; "
                f"the mask needs one entry per {axis[:-1]}."
            )
        indices = np.flatnonzero(arr)
    elif arr.size == 0:
        indices = np.zeros(0, dtype=np.intp)
    elif np.issubdtype(arr.dtype, np.integer):
        indices = _check_indices(arr, n, axis, path)
    elif arr.dtype.kind in "USO":
        indices = _indices_of_names(as_str_array(arr), names, axis, path)
    else:
        raise InputError(
            f"{axis}= must hold integer indices or {axis[:-1]} names, got dtype {arr.dtype}. "
            f"Pass e.g. {axis}=[0, 5, 7] or {axis}=['name1', 'name2']."
        )
    if len(indices) == 0:
        raise InputError(f"{axis}= selects no {axis} of {path!r}; select at least one.")
    repeated = duplicated(indices)
    if len(repeated):
        raise InputError(
            f"{axis}= asks for the same {axis[:-1]} more than once (indices {describe_names(repeated, quote=False)}); "
            f"each {axis[:-1]} may be selected once."
        )
    return indices.astype(np.intp)


def _check_indices(arr: np.ndarray, n: int, axis: str, path: str) -> np.ndarray:
    bad = arr[(arr < 0) | (arr >= n)]
    if len(bad):
        raise InputError(
            f"{axis}= index out of range: {describe_names(bad, quote=False)}; {path!r} has {n} {axis} "
            f"(valid indices 0 to {n - 1})."
        )
    return arr.astype(np.intp)


def _indices_of_names(requested: np.ndarray, names: np.ndarray, axis: str, path: str) -> np.ndarray:
    order = np.argsort(names, kind="stable")
    sorted_names = names[order]
    pos = np.searchsorted(sorted_names, requested)
    pos_clipped = np.minimum(pos, len(names) - 1)
    found = (pos < len(names)) & (sorted_names[pos_clipped] == requested)
    if not found.all():
        missing = requested[~found]
        raise InputError(
            f"{len(missing)} requested {axis[:-1]} name(s) are not in {path!r}: {describe_names(missing)}. "
            f"The file's {axis} look like {describe_names(names[:3], 3)}; check spelling and case, or "
            f"select by index."
        )
    repeated_in_file = set(duplicated(names).tolist())
    ambiguous = [name for name in requested.tolist() if name in repeated_in_file]
    if ambiguous:
        raise InputError(
            f"{axis[:-1]} name(s) {describe_names(ambiguous)} occur more than once in {path!r}, so "
            f"selecting them by name is ambiguous; select by index instead."
        )
    return order[pos_clipped]


def choose_indices(
    n_total: int,
    explicit: np.ndarray | None,
    keep: np.ndarray | None,
    n_random: int | None,
    rng,
    axis: str,
    path: str,
) -> np.ndarray:
    """Final indices along one axis: explicit request, then the ``keep`` mask, then a random subset.

    A random subset keeps the order of its candidates (file order when nothing was requested).
    """
    candidates = np.arange(n_total, dtype=np.intp) if explicit is None else explicit
    if keep is not None:
        candidates = candidates[keep[candidates]]
        if len(candidates) == 0:
            raise InputError(
                f"no {axis} of {path!r} are left after removing single-cell samples and those not "
                f"matching search=/series= (when given); raise singlecell_threshold, pass "
                f"singlecell_threshold=None, or widen the selection."
            )
    if n_random is None:
        return candidates
    n_random = check_positive_int(n_random, f"n_{axis}")
    if n_random > len(candidates):
        raise InputError(
            f"n_{axis}={n_random} asks for more {axis} than are available ({len(candidates)} in "
            f"{path!r} after selection); pass n_{axis} <= {len(candidates)} or n_{axis}=None for all."
        )
    picked = np.sort(rng.choice(len(candidates), size=n_random, replace=False))
    return candidates[picked]


def singlecell_keep_mask(probability: np.ndarray | None, threshold, path: str) -> np.ndarray | None:
    """Mask of samples whose single-cell probability is below ``threshold`` (None: keep all)."""
    if threshold is None:
        return None
    threshold = check_positive_float(threshold, "singlecell_threshold")
    if probability is None:
        raise InputError(
            f"singlecell_threshold={threshold} needs per-sample single-cell probabilities "
            f"(meta/samples/singlecellprobability in ARCHS4 generation-2 files), but {path!r} has none. "
            f"Pass singlecell_threshold=None to keep all samples."
        )
    return np.asarray(probability, dtype=np.float64) < threshold


# --------------------------------------------------------------------------- values


def check_dtype(dtype) -> np.dtype:
    try:
        dtype = np.dtype(dtype)
    except TypeError as exc:
        raise InputError(f"dtype must be np.float32 or np.float64, got {dtype!r}.") from exc
    if dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise InputError(f"dtype must be np.float32 or np.float64, got {dtype}.")
    return dtype


def check_values(data: ExpressionData, allow_negative: bool) -> None:
    """Refuse NaN/inf (always) and negative values (unless ``allow_negative``), naming where they are."""
    X = data.X
    finite = np.isfinite(X)
    if not finite.all():
        i, j = np.argwhere(~finite)[0]
        raise InputError(
            f"{data.source!r} contains {int((~finite).sum())} NaN or infinite value(s); the first is "
            f"{X[i, j]} at sample {str(data.sample_names[i])!r} (row {i}), gene {str(data.gene_names[j])!r} "
            f"(column {j}). Remove or impute missing values in the file (e.g. replace them with 0)."
        )
    if not allow_negative and X.size and X.min() < 0:
        i, j = np.argwhere(X < 0)[0]
        raise InputError(
            f"{data.source!r} contains negative values (min {X.min():g}; first {X[i, j]:g} at sample "
            f"{str(data.sample_names[i])!r}, gene {str(data.gene_names[j])!r}), but counts were expected. If the "
            f"data are log-ratios or centred on purpose, pass allow_negative=True."
        )


def check_unique_genes(gene_names: np.ndarray, unique: bool, path: str) -> np.ndarray:
    """Return gene names, made unique when asked; otherwise refuse duplicates with the fix."""
    repeated = duplicated(gene_names)
    if not len(repeated):
        return gene_names
    if unique:
        return make_unique(gene_names)
    raise InputError(
        f"{path!r} has {len(repeated)} duplicated gene name(s) among the selected genes: "
        f"{describe_names(repeated)}. Gene names must be unique; pass make_unique=True to append "
        f"-1, -2, ... to repeats, or select the genes you want by index."
    )
