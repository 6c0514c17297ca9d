"""Measurement designs, noise, and design files a lab can use.

A design ``A`` has shape (n_measurements, n_genes): row ``m`` holds the weight of every gene in
composite measurement ``m``. Measuring samples ``X`` (n_samples, n_genes) gives
``Y = X @ A.T`` (n_samples, n_measurements).

Designs (all seeded by ``random_state``; :func:`make_design` dispatches on the name):

``"gaussian"`` -- :func:`gaussian_design`
    i.i.d. N(0, 1) entries, unscaled, as in Cleary et al. (2017). A global scale does not
    change what can be recovered (decoders see ``A`` and ``Y`` scaled alike), so none is applied;
    divide by ``sqrt(n_measurements)`` yourself if you want ``E||A x||^2 = ||x||^2``.
``"gaussian-unit"`` -- :func:`gaussian_unit_design`
    Gaussian rows normalised to unit Euclidean norm, where a new row is rejected while its
    absolute Pearson correlation with an earlier row exceeds ``max_correlation`` (Cleary et
    al.'s construction; default 0.2). Random rows of ``g`` genes have correlations of sd about
    ``1/sqrt(g)``, so 0.2 is easy for ``g >= 1,000`` but for ``g = 100`` the chance that a row
    passes against ``i`` earlier rows is roughly ``0.95**i``: about 100 measurements is the
    limit there. When no draw out of ``max_tries`` passes, the least correlated one is kept
    and one :class:`UserWarning` reports how many rows missed and the worst correlation
    (``strict=True`` raises :class:`~csgene.exceptions.InputError` instead).
``"nonnegative"`` -- :func:`nonnegative_design`
    i.i.d. uniform [0, 1) weights: every composite is a physical mixture of all genes.
``"binary-pools"`` -- :func:`binary_pool_design`
    0/1 weights where every gene enters exactly ``pools_per_gene`` composites (default 3, as in
    composite in situ imaging), and the pools are balanced: their sizes differ by at most one
    gene. This is a design a lab can build by pooling probes.

More measurements than genes is allowed (with a :class:`UserWarning`); fewer than one is an
:class:`~csgene.exceptions.InputError`.

Noise follows Cleary et al.: at signal-to-noise ratio ``snr``, Gaussian noise ``N`` with
``||N||_F = ||X||_F / snr`` exactly (:func:`add_noise`). :func:`measure` adds it to the
profiles before measuring, optionally adds noise of the same definition to the measurements
themselves, and can perturb the design weights (a lab's pipetting error).
"""

from __future__ import annotations

import csv
import hashlib
import inspect
import math
import os
import warnings
from collections.abc import Callable, Sequence

import numpy as np

from ._atomic import atomic_open
from ._validation import check_matrix, check_positive_float, check_positive_int, check_same_width, check_snr
from ._random import as_generator
from .exceptions import DataFormatError, InputError

#: Candidate rows drawn at once by :func:`gaussian_unit_design`.
_CANDIDATE_BATCH = 64
#: Gene names shown in messages about missing or extra genes.
_NAMES_SHOWN = 5


# --------------------------------------------------------------------------- designs
def gaussian_design(n_measurements: int, n_genes: int, *, random_state=None) -> np.ndarray:
    """i.i.d. standard normal design, unscaled (the seed paper's).

    Parameters
    ----------
    n_measurements, n_genes : int
        Shape of the design.
    random_state : int, numpy Generator/RandomState or None

    Returns
    -------
    A : ndarray of shape (n_measurements, n_genes)
    """
    d, g = _check_design_shape(n_measurements, n_genes)
    return as_generator(random_state).standard_normal((d, g))


def nonnegative_design(n_measurements: int, n_genes: int, *, random_state=None) -> np.ndarray:
    """i.i.d. uniform [0, 1) design: every composite mixes all genes with positive weights.

    Parameters
    ----------
    n_measurements, n_genes : int
        Shape of the design.
    random_state : int, numpy Generator/RandomState or None

    Returns
    -------
    A : ndarray of shape (n_measurements, n_genes)
    """
    d, g = _check_design_shape(n_measurements, n_genes)
    return as_generator(random_state).random((d, g))


def gaussian_unit_design(
    n_measurements: int,
    n_genes: int,
    *,
    max_correlation: float = 0.2,
    max_tries: int = 1000,
    strict: bool = False,
    random_state=None,
) -> np.ndarray:
    """Unit-norm Gaussian rows with bounded pairwise correlation (Cleary et al. 2017).

    Rows are drawn one at a time; a candidate is rejected while its absolute Pearson
    correlation with any earlier row exceeds ``max_correlation``.

    Parameters
    ----------
    n_measurements, n_genes : int
        Shape of the design; ``n_genes`` must be at least 2 for correlations to exist.
    max_correlation : float in (0, 1]
        Largest allowed absolute Pearson correlation between two rows.
    max_tries : int
        Candidates drawn per row before giving up on the threshold for that row.
    strict : bool
        When a row cannot meet the threshold: False keeps the least correlated candidate and
        warns once at the end (later rows then try only a batch of 64 draws each, since the
        threshold is out of reach anyway); True raises :class:`~csgene.exceptions.InputError`.
    random_state : int, numpy Generator/RandomState or None

    Returns
    -------
    A : ndarray of shape (n_measurements, n_genes)
        Rows of unit Euclidean norm.
    """
    d, g = _check_design_shape(n_measurements, n_genes)
    if g < 2:
        raise InputError(
            f"the gaussian-unit design needs at least 2 genes to measure correlations, got {g}; "
            f"use the gaussian design instead."
        )
    max_correlation = check_positive_float(max_correlation, "max_correlation")
    if max_correlation > 1:
        raise InputError(f"max_correlation must be in (0, 1], got {max_correlation}.")
    max_tries = check_positive_int(max_tries, "max_tries")
    rng = as_generator(random_state)
    # Draw every row at once and check all pairs with one product; only rows that clash with
    # an earlier (final) row are redrawn. This is rejection sampling row by row, but costs one
    # Gram matrix when clashes are rare (many genes).
    rows = rng.standard_normal((d, g))
    standardized = _standardize(rows)
    correlation = np.abs(standardized @ standardized.T)
    budget, missed, worst = max_tries, 0, 0.0
    for i in range(1, d):
        if correlation[i, :i].max() <= max_correlation:
            continue
        # The first draw of row i is already spent, hence budget - 1 more.
        row, best = _least_correlated_row(rng, standardized[:i], max_correlation, budget - 1)
        if best > max_correlation:
            if strict:
                raise InputError(
                    f"gaussian-unit design: row {i + 1} of {d} could not keep |correlation| <= "
                    f"{max_correlation} with earlier rows in {max_tries} tries (best "
                    f"{best:.3f}); {g} genes cannot hold {d} such rows. Use fewer "
                    f"measurements, a higher max_correlation, or strict=False."
                )
            if correlation[i, :i].max() < best:
                row, best = rows[i], correlation[i, :i].max()
            # Once the threshold is out of reach, later rows only take the best of a batch.
            budget, missed, worst = _CANDIDATE_BATCH, missed + 1, max(worst, best)
        rows[i] = row
        standardized[i] = _standardize(row[None, :])[0]
        correlation[i + 1:, i] = np.abs(standardized[i + 1:] @ standardized[i])
    design = rows / np.linalg.norm(rows, axis=1, keepdims=True)
    if missed:
        warnings.warn(
            f"gaussian-unit design: {missed} of {d} rows could not keep |correlation| <= "
            f"{max_correlation} (the first after {max_tries} tries, later ones after "
            f"{_CANDIDATE_BATCH}); kept the least correlated draws (worst {worst:.3f}). Use fewer "
            f"measurements, more genes or a higher max_correlation to avoid this.",
            UserWarning,
            stacklevel=2,
        )
    return design


def binary_pool_design(
    n_measurements: int, n_genes: int, *, pools_per_gene: int | None = None, random_state=None
) -> np.ndarray:
    """Balanced 0/1 pools: every gene in exactly ``pools_per_gene`` composites.

    Genes are placed in random order, each into the ``pools_per_gene`` currently smallest
    pools (ties broken at random), so pool sizes never differ by more than one gene and each
    pool holds about ``n_genes * pools_per_gene / n_measurements`` genes.

    Parameters
    ----------
    n_measurements, n_genes : int
        Shape of the design.
    pools_per_gene : int, optional
        Composites each gene enters, at most ``n_measurements``; default
        ``min(3, n_measurements)``.
    random_state : int, numpy Generator/RandomState or None

    Returns
    -------
    A : ndarray of shape (n_measurements, n_genes)
        Entries 0.0 or 1.0; every column sums to ``pools_per_gene``.
    """
    d, g = _check_design_shape(n_measurements, n_genes)
    if pools_per_gene is None:
        pools_per_gene = min(3, d)
    pools_per_gene = check_positive_int(pools_per_gene, "pools_per_gene", maximum=d)
    rng = as_generator(random_state)
    design = np.zeros((d, g))
    load = np.zeros(d)
    for gene in rng.permutation(g):
        # Random fractional tie-breakers below 1 keep smaller pools strictly first.
        pools = np.argpartition(load + rng.random(d), pools_per_gene - 1)[:pools_per_gene]
        design[pools, gene] = 1.0
        load[pools] += 1.0
    return design


#: Design names accepted by :func:`make_design` and the functions that build them.
DESIGNS: dict[str, Callable[..., np.ndarray]] = {
    "gaussian": gaussian_design,
    "gaussian-unit": gaussian_unit_design,
    "nonnegative": nonnegative_design,
    "binary-pools": binary_pool_design,
}


def make_design(kind: str, n_measurements: int, n_genes: int, random_state=None, **kwargs) -> np.ndarray:
    """Build a design by name.

    Parameters
    ----------
    kind : {"gaussian", "gaussian-unit", "nonnegative", "binary-pools"}
    n_measurements, n_genes : int
        Shape of the design.
    random_state : int, numpy Generator/RandomState or None
    **kwargs
        Options of the design function (e.g. ``max_correlation``, ``pools_per_gene``).

    Returns
    -------
    A : ndarray of shape (n_measurements, n_genes)

    Examples
    --------
    >>> from csgene.measure import make_design
    >>> make_design("binary-pools", 10, 40, random_state=0, pools_per_gene=2).sum(axis=0)[:3]
    array([2., 2., 2.])
    """
    if kind not in DESIGNS:
        raise InputError(f"unknown design {kind!r}; choose one of {', '.join(DESIGNS)}.")
    build = DESIGNS[kind]
    options = [
        name for name, p in inspect.signature(build).parameters.items()
        if p.kind is p.KEYWORD_ONLY and name != "random_state"
    ]
    unknown = sorted(set(kwargs) - set(options))
    if unknown:
        accepted = ", ".join(options) if options else "none"
        raise InputError(
            f"design {kind!r} does not take option(s) {', '.join(unknown)}; its options are: {accepted}."
        )
    return build(n_measurements, n_genes, random_state=random_state, **kwargs)


# --------------------------------------------------------------------------- noise
def add_noise(X, snr: float, random_state=None) -> np.ndarray:
    """Return ``X + N`` with Gaussian ``N`` scaled so that ``||N||_F = ||X||_F / snr``.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_genes)
    snr : float > 0
        Signal-to-noise ratio; ``np.inf`` adds nothing.
    random_state : int, numpy Generator/RandomState or None

    Returns
    -------
    ndarray of shape (n_samples, n_genes)
        A new array (``X`` is never modified).
    """
    X = check_matrix(X, "X")
    snr = check_snr(snr)
    return X + _scaled_noise(as_generator(random_state), X, snr)


def measure(
    X,
    A,
    *,
    snr: float = math.inf,
    measurement_snr: float = math.inf,
    design_noise: float = 0.0,
    random_state=None,
) -> np.ndarray:
    """Composite measurements ``Y = (X + N) A'^T (+ M)``.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_genes)
        Profiles.
    A : array-like of shape (n_measurements, n_genes)
        Nominal design.
    snr : float > 0
        SNR of the noise ``N`` added to the profiles (:func:`add_noise`); inf for none.
    measurement_snr : float > 0
        SNR of noise ``M`` added to the measurements, ``||M||_F = ||Y||_F / measurement_snr``.
    design_noise : float >= 0
        Relative pipetting error: the weights actually used are ``A * (1 + design_noise * Z)``
        with ``Z`` standard normal, drawn once for all samples (the composites are mixed once).
        Decoders still see the nominal ``A``.
    random_state : int, numpy Generator/RandomState or None
        Draws, in order: profile noise, design perturbation, measurement noise.

    Returns
    -------
    Y : ndarray of shape (n_samples, n_measurements)
    """
    X = check_matrix(X, "X")
    A = check_matrix(A, "A")
    check_same_width(X, A, "X", "design A")
    snr = check_snr(snr)
    measurement_snr = check_positive_float(measurement_snr, "measurement_snr", allow_inf=True)
    design_noise = check_positive_float(design_noise, "design_noise", allow_zero=True)
    rng = as_generator(random_state)
    noisy = X + _scaled_noise(rng, X, snr)
    if design_noise > 0:
        A = A * (1.0 + design_noise * rng.standard_normal(A.shape))
    Y = noisy @ A.T
    return Y + _scaled_noise(rng, Y, measurement_snr)


def design_fingerprint(design) -> str:
    """SHA-256 (hex) of a design's float64 bytes: recorded in every measurements file csgene writes."""
    return hashlib.sha256(np.ascontiguousarray(design, dtype=np.float64).tobytes()).hexdigest()


# --------------------------------------------------------------------------- design files
def write_design_csv(path, A, gene_names: Sequence[str]) -> None:
    """Write a design as CSV for the bench: one row per gene, one column per composite.

    The header is ``gene,m1,...,md``. Integer-valued designs (binary pools) are written as
    integers, others with full float precision. The file is written to a temporary file in the
    same folder and moved into place, so a reader never sees half a file.

    Parameters
    ----------
    path : str or path-like
    A : array-like of shape (n_measurements, n_genes)
    gene_names : sequence of str, length n_genes, unique
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
    if gene_names is None:
        return np.ascontiguousarray(weights.T), file_genes
    wanted = _check_gene_names(gene_names, None)
    _check_same_genes(file_genes, wanted, os.fspath(path))
    row_of = {name: row for row, name in enumerate(file_genes)}
    order = np.array([row_of[name] for name in wanted], dtype=np.intp)
    return np.ascontiguousarray(weights[order].T), wanted


# --------------------------------------------------------------------------- helpers
def _check_design_shape(n_measurements, n_genes) -> tuple[int, int]:
    """Validate a design shape; warn when there are more measurements than genes."""
    d = check_positive_int(n_measurements, "n_measurements")
    g = check_positive_int(n_genes, "n_genes")
    if d > g:
        warnings.warn(
            f"n_measurements={d} exceeds n_genes={g}: composites beyond the number of genes add "
            f"no new information in the noiseless case (measuring every gene would do).",
            UserWarning,
            stacklevel=3,
        )
    return d, g


def _standardize(rows: np.ndarray) -> np.ndarray:
    """Centre each row and scale it to unit norm, so dot products are Pearson correlations."""
    centred = rows - rows.mean(axis=1, keepdims=True)
    return centred / np.linalg.norm(centred, axis=1, keepdims=True)


def _least_correlated_row(
    rng: np.random.Generator, accepted: np.ndarray, threshold: float, max_tries: int
) -> tuple[np.ndarray, float]:
    """First Gaussian draw whose max |corr| with ``accepted`` is <= threshold, else the best.

    Candidates come in batches that start at one and double (up to ``_CANDIDATE_BATCH``):
    with many genes the first draw nearly always passes, with few genes many are needed.
    """
    n_genes = accepted.shape[1]
    best_row, best_corr = None, np.inf
    tries, batch = 0, 1
    while tries < max_tries:
        batch = min(batch, max_tries - tries)
        candidates = rng.standard_normal((batch, n_genes))
        tries += batch
        corr = np.abs(accepted @ _standardize(candidates).T).max(axis=0)
        passing = np.flatnonzero(corr <= threshold)
        if passing.size:
            return candidates[passing[0]], float(corr[passing[0]])
        k = int(np.argmin(corr))
        if corr[k] < best_corr:
            best_row, best_corr = candidates[k], float(corr[k])
        batch = min(2 * batch, _CANDIDATE_BATCH)
    return best_row, best_corr


def _scaled_noise(rng: np.random.Generator, signal: np.ndarray, snr: float) -> np.ndarray:
    """Gaussian noise shaped like ``signal`` with ``||noise||_F = ||signal||_F / snr``."""
    if math.isinf(snr):
        return np.zeros_like(signal)
    noise = rng.standard_normal(signal.shape)
    target = np.linalg.norm(signal) / snr
    return (noise * (target / np.linalg.norm(noise))).astype(signal.dtype, copy=False)


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
