"""Design files a lab can use: CSV with one row per gene and one column per composite.

A design written with ``provenance`` gets a sidecar ``<file>.json`` next to it: how it was made
(kind, options, SNR, the data it was learned from), the csgene version and the SHA-256 of the
weights. Reading the CSV back checks the weights against that hash, so a hand-edited file
does not keep a provenance that no longer describes it.
"""

from __future__ import annotations

import csv
import json
import os
import warnings
from collections.abc import Sequence

import numpy as np

from .._atomic import atomic_open
from .._validation import check_matrix
from ..exceptions import DataFormatError, InputError
from ..measure import design_fingerprint

#: Gene names shown in messages about missing or extra genes.
_NAMES_SHOWN = 5


def write_design_csv(path, A, gene_names: Sequence[str], *, provenance: dict | None = None) -> None:
    """Write a design as CSV for the bench: one row per gene, one column per composite.

    The header is ``gene,m1,...,md``. Integer-valued designs (binary pools) are written as
    integers, others with full float precision. The file is written to a temporary file in the
    same folder and moved into place, so a reader never sees half a file.

    Parameters
    ----------
    path : str or path-like
    A : array-like of shape (n_measurements, n_genes)
    gene_names : sequence of str, length n_genes, unique
    provenance : dict, optional
        How the design was made (JSON-serialisable); written to the sidecar ``<path>.json``
        with the csgene version and the weights' SHA-256. Without it, a stale sidecar of an
        earlier design at ``path`` is removed.
    """
    A = check_matrix(A, "A")
    names = _check_gene_names(gene_names, A.shape[1])
    header = ["gene"] + [f"m{m + 1}" for m in range(A.shape[0])]
    integral = bool(np.all(A == np.round(A)))
    with atomic_open(path, "w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(header)
        for name, weights in zip(names, A.T.tolist()):
            cells = [str(int(w)) for w in weights] if integral else [repr(w) for w in weights]
            writer.writerow([name, *cells])
    sidecar = provenance_path(path)
    if provenance is None:
        if os.path.exists(sidecar):
            os.remove(sidecar)
        return
    from .. import __version__

    record = {"csgene_version": __version__, "n_measurements": A.shape[0], "n_genes": A.shape[1],
              **provenance, "weights_sha256": design_fingerprint(A)}
    with atomic_open(sidecar, "w") as stream:
        json.dump(record, stream, indent=1, sort_keys=True, default=str)


def provenance_path(path) -> str:
    """The sidecar file that records how the design CSV at ``path`` was made."""
    return os.fspath(path) + ".json"


def read_design_provenance(path) -> dict | None:
    """The provenance recorded beside design CSV ``path``, or None when it has none."""
    sidecar = provenance_path(path)
    if not os.path.exists(sidecar):
        return None
    try:
        with open(sidecar) as stream:
            return json.load(stream)
    except (OSError, ValueError) as exc:
        raise DataFormatError(f"{sidecar} (how {path} was made) is not readable JSON ({exc}); "
                              f"delete it or write the design again.") from exc


def read_design_csv(path, gene_names: Sequence[str] | None = None) -> tuple[np.ndarray, list[str]]:
    """Read a design written by :func:`write_design_csv` (or by hand in the same layout).

    Parameters
    ----------
    path : str or path-like
        CSV with a header row (first column: gene names; one column per composite).
    gene_names : sequence of str, optional
        Genes of the data the design will measure. When given, the file must list exactly these
        genes (any order); the columns of ``A`` are reordered to match. Missing or extra genes
        raise :class:`~csgene.exceptions.InputError` naming a few.

    Returns
    -------
    A : ndarray of shape (n_measurements, n_genes)
    gene_names : list of str
        The genes of the columns of ``A`` (the data's order when ``gene_names`` was given).
    """
    file_genes, weights = _parse_design_csv(os.fspath(path))
    provenance = read_design_provenance(path)
    if provenance is not None and provenance.get("weights_sha256") != design_fingerprint(weights.T):
        warnings.warn(
            f"{path} does not hold the weights its provenance file {provenance_path(path)} describes "
            f"(edited after it was written?); the design is used as the CSV says. Delete the .json "
            f"file, or write the design again, to silence this.",
            UserWarning,
            stacklevel=2,
        )
    if gene_names is None:
        return np.ascontiguousarray(weights.T), file_genes
    wanted = _check_gene_names(gene_names, None)
    _check_same_genes(file_genes, wanted, os.fspath(path))
    row_of = {name: row for row, name in enumerate(file_genes)}
    order = np.array([row_of[name] for name in wanted], dtype=np.intp)
    return np.ascontiguousarray(weights[order].T), wanted


def _check_gene_names(gene_names, n_genes: int | None) -> list[str]:
    """Gene names as a list of unique strings (of length ``n_genes`` when given)."""
    if isinstance(gene_names, (str, bytes)) or not hasattr(gene_names, "__iter__"):
        raise InputError(
            f"gene_names must be a sequence of strings (one per gene), got {type(gene_names).__name__}."
        )
    names = [str(name) for name in gene_names]
    if n_genes is not None and len(names) != n_genes:
        raise InputError(
            f"gene_names has {len(names)} names but the design has {n_genes} genes (columns); "
            f"pass one name per column of A."
        )
    duplicates = _duplicates(names)
    if duplicates:
        raise InputError(
            f"gene_names contains {len(duplicates)} duplicated name(s), e.g. "
            f"{_few(duplicates)}; gene names must be unique."
        )
    return names


def _parse_design_csv(path: str) -> tuple[list[str], np.ndarray]:
    """Gene names and the (n_genes, n_measurements) weight table of a design CSV."""
    try:
        with open(path, newline="") as stream:
            rows = [row for row in csv.reader(stream) if row]
    except FileNotFoundError as exc:
        raise InputError(f"design file {path} does not exist; check the path.") from exc
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataFormatError(f"design file {path} could not be read as CSV ({exc}).") from exc
    if len(rows) < 2 or len(rows[0]) < 2:
        raise DataFormatError(
            f"design file {path} needs a header row 'gene,m1,...' and at least one gene row "
            f"with one or more composite columns; found {len(rows)} row(s)."
        )
    width = len(rows[0])
    ragged = [i + 1 for i, row in enumerate(rows) if len(row) != width]
    if ragged:
        raise DataFormatError(
            f"design file {path}: the header has {width} columns but line(s) {_few(ragged)} do "
            f"not; every gene row needs a name and one weight per composite."
        )
    genes = [row[0] for row in rows[1:]]
    try:
        weights = np.array([[float(cell) for cell in row[1:]] for row in rows[1:]])
    except ValueError as exc:
        raise DataFormatError(f"design file {path} has a non-numeric weight ({exc}).") from exc
    if not np.isfinite(weights).all():
        raise DataFormatError(f"design file {path} has NaN or infinite weights; fix the file.")
    duplicates = _duplicates(genes)
    if duplicates:
        raise DataFormatError(
            f"design file {path} lists gene(s) {_few(duplicates)} more than once; each gene "
            f"must have exactly one row."
        )
    return genes, weights


def _check_same_genes(file_genes: list[str], data_genes: list[str], path: str) -> None:
    """Raise InputError naming genes missing from, or extra in, the design file."""
    in_file, in_data = set(file_genes), set(data_genes)
    missing = [name for name in data_genes if name not in in_file]
    extra = [name for name in file_genes if name not in in_data]
    problems = []
    if missing:
        problems.append(f"{len(missing)} gene(s) of the data are missing from it ({_few(missing)})")
    if extra:
        problems.append(f"{len(extra)} gene(s) in it are not in the data ({_few(extra)})")
    if problems:
        raise InputError(
            f"design file {path} does not match the data's genes: {'; '.join(problems)}. "
            f"Write the design for these genes, or subset the data to the design's genes."
        )


def _duplicates(names: list[str]) -> list[str]:
    seen, repeated = set(), []
    for name in names:
        if name in seen and name not in repeated:
            repeated.append(name)
        seen.add(name)
    return repeated


def _few(items: Sequence) -> str:
    shown = ", ".join(str(item) for item in items[:_NAMES_SHOWN])
    return shown + (", ..." if len(items) > _NAMES_SHOWN else "")
