"""Gaussian models with a low-rank-plus-diagonal covariance, fitted in closed form.

Used by the ``gaussian`` baseline (to choose its factor-analysis rank) and by the Bayesian
decoder's backgrounds (:mod:`csgene.bayesian_pursuit`).
"""

from __future__ import annotations

import numpy as np

from ._random import as_generator

#: Candidate ranks of the low-rank part (chosen by held-out likelihood).
RANKS = (5, 10, 20, 40, 80)


def rank_candidates(n_samples: int, n_genes: int) -> list[int]:
    """Ranks :func:`choose_rank` compares: :data:`RANKS` below half the rows and the columns."""
    return [q for q in RANKS if q < 0.5 * n_samples and q < n_genes] or [1]


def heldout_split(n_samples: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """(held, kept) row indices of :func:`choose_rank`: a fifth held out, drawn by ``rng.permutation``."""
    order = rng.permutation(n_samples)
    cut = max(1, n_samples // 5)
    return order[:cut], order[cut:]


def choose_rank(X: np.ndarray, rng) -> int:
    """Rank of the probabilistic-PCA model with the best held-out likelihood (closed form, one SVD).

    A fifth of the rows (drawn by ``rng.permutation``) is held out; candidates are
    :data:`RANKS` below half the remaining rows and the number of columns.
    """
    n, g = X.shape
    candidates = rank_candidates(n, g)
    if len(candidates) == 1:
        return candidates[0]
    held_idx, kept_idx = heldout_split(n, rng)
    held, kept = X[held_idx], X[kept_idx]
    mean = kept.mean(axis=0)
    _, s, Vt = np.linalg.svd(kept - mean, full_matrices=False)
    eig = s**2 / kept.shape[0]
    proj = (held - mean) @ Vt[: max(candidates)].T
    sq_total = np.einsum("ij,ij->i", held - mean, held - mean)
    return best_rank(eig, float(eig.sum()), g, (proj**2).mean(axis=0), float(sq_total.mean()), candidates)


def best_rank(eig, total: float, n_genes: int, proj_sq, sq_total: float, candidates) -> int:
    """The candidate rank with the best mean held-out PPCA log-likelihood.

    Parameters
    ----------
    eig : ndarray
        Leading eigenvalues of the kept rows' covariance (at least ``max(candidates)`` of them,
        zeros where the rank runs out).
    total : float
        Sum of all its eigenvalues (its trace).
    n_genes : int
    proj_sq : ndarray
        Mean over held-out rows of the squared projection on each leading eigenvector.
    sq_total : float
        Mean over held-out rows of the squared norm (both centred by the kept rows' mean).
    candidates : list of int
    """
    eig = np.concatenate([np.asarray(eig, dtype=np.float64), np.zeros(max(0, max(candidates) - len(eig)))])
    proj_sq = np.concatenate([np.asarray(proj_sq, dtype=np.float64),
                              np.zeros(max(0, max(candidates) - len(proj_sq)))])
    scores = []
    for q in candidates:
        sigma2 = max((total - eig[:q].sum()) / (n_genes - q), 1e-12 * eig[0])
        lam = np.maximum(eig[:q], sigma2)
        log_det = np.log(lam).sum() + (n_genes - q) * np.log(sigma2)
        quad = (sq_total - proj_sq[:q].sum()) / sigma2 + (proj_sq[:q] / lam).sum()
        scores.append(-0.5 * (log_det + quad))
    return candidates[int(np.argmax(scores))]


def fit_background(X: np.ndarray, random_state=0) -> dict:
    """Gaussian N(mean, factorsᵀ factors + diag(psi)) fitted to the rows of X.

    The low-rank part is the top principal directions (rank by :func:`choose_rank`), each scaled
    by the square root of its variance in excess of the discarded directions' mean; ψ is each
    gene's variance left outside the low-rank part, floored at a millionth of the mean variance.
    """
    X = np.asarray(X, dtype=np.float64)
    mean = X.mean(axis=0)
    Xc = X - mean
    q = min(choose_rank(X, as_generator(random_state)), max(1, min(X.shape) - 1))
    _, s, Vt = np.linalg.svd(Xc, full_matrices=False)
    eig = s**2 / X.shape[0]
    return background_from_spectrum(mean, eig[:q], Vt[:q], float(eig.sum()), Xc.var(axis=0))


def background_from_spectrum(mean, eig, vectors, total: float, gene_var) -> dict:
    """:func:`fit_background`'s result from the covariance's leading eigenpairs and its trace.

    Parameters
    ----------
    mean : ndarray of shape (n_genes,)
    eig : ndarray of shape (q,)
        The q leading eigenvalues of the covariance of the rows (divided by n, not n - 1).
    vectors : ndarray of shape (q, n_genes)
        Their eigenvectors.
    total : float
        The covariance's trace (sum of all eigenvalues).
    gene_var : ndarray of shape (n_genes,)
        Each gene's variance (its diagonal).
    """
    q, g = np.shape(vectors)
    rest = (total - float(np.sum(eig))) / max(g - q, 1)
    factors = vectors * np.sqrt(np.maximum(eig - rest, 0.0))[:, None]
    floor = 1e-6 * max(float(gene_var.mean()), 1e-300)
    psi = np.maximum(gene_var - np.einsum("qg,qg->g", factors, factors), floor)
    return {"mean": mean, "factors": factors, "psi": psi}
