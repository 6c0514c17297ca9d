"""``"best-of-random-pools"``: CISI's selection of random 0/1 designs (Cleary et al. 2021).

Draw ``n_candidates`` random pool designs under the lab's limits (every gene in
``pools_per_gene`` composites, at most ``max_genes_per_pool`` genes per composite), reject
those CISI rejects -- two genes whose pool-membership columns have cosine above
``max_gene_cosine`` (0.8: they cannot be told apart), or a most-used gene used more than
``max_usage_ratio`` (4) times as often as the least-used one -- and score the others by
simulation: the training split is divided into a fitting part and a validation part (never the
test samples), noisy measurements of the validation profiles are decoded with the Gaussian
posterior mean fitted on the fitting part, and a candidate's score is the mean per-gene Pearson
correlation of the recoveries (CISI's criterion). The best-scoring candidate is returned.

With csgene's balanced pools every gene is used exactly ``pools_per_gene`` times, so the usage
filter never rejects; it is kept for designs drawn with other limits. The coherence filter
cannot be met at transcriptome scale: with 1,000 genes each in 3 of 20 pools there are only
1,140 distinct pool sets, so random designs always give some genes identical columns. When no
candidate passes, the candidates with the fewest such gene pairs are scored instead (warned).
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from .._random import as_generator
from .._validation import check_positive_int
from ..exceptions import InputError
from ..measure import add_noise
from .pools import check_pool_limits
from .prior import DesignPrior

#: CISI's defaults.
N_CANDIDATES = 2000
MAX_GENE_COSINE = 0.8
MAX_USAGE_RATIO = 4.0
#: Share of the training split held out to score candidates.
VALIDATION_FRACTION = 0.2


def best_of_random_pools(X_train, n_measurements: int, *, snr: float, pools_per_gene: int | None = None,
                         max_genes_per_pool: int | None = None, n_candidates: int = N_CANDIDATES,
                         max_gene_cosine: float = MAX_GENE_COSINE, max_usage_ratio: float = MAX_USAGE_RATIO,
                         random_state=None, return_scores: bool = False):
    """Best of ``n_candidates`` random pool designs by simulated recovery on a validation split.

    Parameters
    ----------
    X_train : ndarray of shape (n_samples, n_genes)
        Training profiles in the preprocessed space; at least 5 samples.
    n_measurements : int
    snr : float
        SNR of the simulated measurements.
    pools_per_gene, max_genes_per_pool : int, optional
        The lab's limits (see :func:`csgene.design.pools.check_pool_limits`).
    n_candidates : int
        Random designs drawn (CISI: 2,000).
    max_gene_cosine, max_usage_ratio : float
        CISI's filters (see module).
    random_state : int, numpy Generator/RandomState or None
    return_scores : bool
        Also return every kept candidate's validation score (NaN for rejected ones).

    Returns
    -------
    A : ndarray of shape (n_measurements, n_genes)
    scores : ndarray of shape (n_candidates,), only with ``return_scores``
    """
    X = np.asarray(X_train, dtype=np.float64)
    n, g = X.shape
    d = n_measurements
    pools_per_gene, cap = check_pool_limits(d, g, pools_per_gene, max_genes_per_pool)
    n_candidates = check_positive_int(n_candidates, "n_candidates")
    if n < 5:
        raise InputError(
            f"best-of-random-pools scores candidates on a validation part of the training split, "
            f"but there are only {n} training samples; use at least 5 (more give a reliable choice)."
        )
    rng = as_generator(random_state)
    order = rng.permutation(n)
    n_val = max(2, int(round(VALIDATION_FRACTION * n)))
    X_val, X_fit = X[order[:n_val]], X[order[n_val:]]
    prior = DesignPrior.fit(X_fit, snr, random_state=rng)
    # one noise draw for every candidate, so scores differ by design only
    noisy_val = add_noise(X_val, snr, random_state=rng)
    # Each candidate is drawn from its own seed, so the filter pass and the scoring pass see
    # the same designs without holding 2,000 of them in memory.
    seeds = rng.integers(2**63 - 1, size=n_candidates)

    def draw(k):
        return _random_pool_sets(d, g, pools_per_gene, cap, np.random.default_rng(seeds[k]))

    # Every gene is in exactly pools_per_gene pools, so usage is balanced and, when one pool fewer
    # is within the cosine limit, only genes with identical pool sets are too similar: counted
    # from integer keys of the sets, without building the design.
    coherent = np.zeros(n_candidates, dtype=np.int64)
    only_identical = (pools_per_gene - 1) / pools_per_gene <= max_gene_cosine
    for k in range(n_candidates):
        sets = draw(k)
        coherent[k] = (_identical_set_pairs(sets, d) if only_identical
                       else _coherent_pairs(_pools_design(sets, d), max_gene_cosine))
    fewest = int(coherent.min())
    if fewest > 0:
        warnings.warn(
            f"no random design meets CISI's coherence filter: with {g} genes each in {pools_per_gene} "
            f"of {d} pools ({math.comb(d, pools_per_gene)} distinct pool sets), some genes always "
            f"share pools with cosine above {max_gene_cosine}. Kept the candidates with the fewest such "
            f"gene pairs ({fewest}) instead; more measurements or fewer genes avoid this.",
            UserWarning,
            stacklevel=3,
        )
    scores = np.full(n_candidates, np.nan)
    best = None
    for k in np.flatnonzero(coherent == fewest):
        candidate = _pools_design(draw(k), d)
        if not _balanced(candidate, max_usage_ratio):  # never with exactly pools_per_gene per gene
            continue
        Y = noisy_val @ candidate.T
        X_hat = prior.mean + (Y - candidate @ prior.mean) @ prior.posterior_gain(candidate).T
        scores[k] = _mean_gene_pearson(X_val, X_hat)
        if best is None or scores[k] > scores[best[0]]:
            best = (k, candidate)
    return (best[1], scores) if return_scores else best[1]


def _random_pool_sets(d: int, g: int, pools_per_gene: int, cap: int | None, rng) -> np.ndarray:
    """The pools of each gene, shape (g, pools_per_gene): distinct, random, none above ``cap`` genes."""
    if cap is None:  # uniform choice per gene, all genes at once
        return np.argpartition(rng.random((g, d)), pools_per_gene - 1, axis=1)[:, :pools_per_gene]
    sets = np.empty((g, pools_per_gene), dtype=np.intp)
    load = np.zeros(d)
    for gene in rng.permutation(g):
        open_pools = np.flatnonzero(load < cap)
        if open_pools.size < pools_per_gene:  # a tight cap: fill the emptiest pools
            open_pools = np.argsort(load)[:pools_per_gene]
        sets[gene] = rng.choice(open_pools, size=pools_per_gene, replace=False)
        load[sets[gene]] += 1
    return sets


def _pools_design(sets: np.ndarray, d: int) -> np.ndarray:
    """The 0/1 design (d, g) of per-gene pool sets (g, pools_per_gene)."""
    design = np.zeros((d, sets.shape[0]))
    design[sets.T, np.arange(sets.shape[0])] = 1.0
    return design


def _identical_set_pairs(sets: np.ndarray, d: int) -> int:
    """Pairs of genes in exactly the same pools, counted from integer keys of their sorted sets."""
    keys = np.zeros(sets.shape[0], dtype=np.int64)
    for column in np.sort(sets, axis=1).T:  # base-d digits; d**3 fits easily in int64
        keys = keys * d + column
    _, counts = np.unique(keys, return_counts=True)
    return int((counts * (counts - 1) // 2).sum())


def _passes_filters(design: np.ndarray, max_gene_cosine: float, max_usage_ratio: float) -> bool:
    """CISI's filters: no two gene columns with cosine above the limit, usage within the ratio."""
    return _balanced(design, max_usage_ratio) and _coherent_pairs(design, max_gene_cosine) == 0


def _balanced(design: np.ndarray, max_usage_ratio: float) -> bool:
    """Whether the most-used gene is used at most ``max_usage_ratio`` times the least-used."""
    usage = design.sum(axis=0)
    return bool(usage.min() > 0 and usage.max() / usage.min() <= max_usage_ratio)


def _coherent_pairs(design: np.ndarray, max_gene_cosine: float) -> int:
    """Gene pairs whose pool-membership columns have cosine above the limit.

    Cosine of genes a, b is shared pools / sqrt(u_a u_b) for usages u. With equal usage u and
    (u - 1) / u within the limit only identical columns exceed it, and those are counted by
    grouping equal columns; otherwise a sparse Gram matrix is formed.
    """
    usage = design.sum(axis=0)
    u = usage[0]
    if usage.min() == usage.max() and (u - 1) / u <= max_gene_cosine:
        _, counts = np.unique(design.T, axis=0, return_counts=True)
        return int((counts * (counts - 1) // 2).sum())
    from scipy import sparse

    unit = sparse.csc_matrix(design / np.sqrt(usage))
    gram = sparse.triu(unit.T @ unit, k=1).tocoo()
    return int((gram.data > max_gene_cosine + 1e-12).sum())


def _mean_gene_pearson(X: np.ndarray, X_hat: np.ndarray) -> float:
    """Mean over genes (with variance in both) of the Pearson correlation across samples."""
    a = X - X.mean(axis=0)
    b = X_hat - X_hat.mean(axis=0)
    norm = np.sqrt((a**2).sum(axis=0) * (b**2).sum(axis=0))
    varying = norm > 0
    return float(np.mean((a * b).sum(axis=0)[varying] / norm[varying]))
