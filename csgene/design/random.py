"""Random designs: drawn without looking at any data.

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
"""

from __future__ import annotations

import warnings

import numpy as np

from .._random import as_generator
from .._validation import check_positive_float, check_positive_int
from ..exceptions import InputError

#: Candidate rows drawn at once by :func:`gaussian_unit_design`.
_CANDIDATE_BATCH = 64


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
