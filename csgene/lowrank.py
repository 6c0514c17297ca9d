"""Gaussian models with a low-rank-plus-diagonal covariance, fitted in closed form.

Used by the ``gaussian`` baseline (to choose its factor-analysis rank) and by the Bayesian
decoder's backgrounds (:mod:`csgene.bayesian_pursuit`).
"""

from __future__ import annotations

import numpy as np

from ._random import as_generator

#: Candidate ranks of the low-rank part (chosen by held-out likelihood).
RANKS = (5, 10, 20, 40, 80)


def choose_rank(X: np.ndarray, rng) -> int:
    """Rank of the probabilistic-PCA model with the best held-out likelihood (closed form, one SVD).

    A fifth of the rows (drawn by ``rng.permutation``) is held out; candidates are
    :data:`RANKS` below half the remaining rows and the number of columns.
    """
    n, g = X.shape
    candidates = [q for q in RANKS if q < 0.5 * n and q < g] or [1]
    if len(candidates) == 1:
        return candidates[0]
    order = rng.permutation(n)
    held, kept = X[order[: max(1, n // 5)]], X[order[max(1, n // 5):]]
    mean = kept.mean(axis=0)
    _, s, Vt = np.linalg.svd(kept - mean, full_matrices=False)
    eig = np.zeros(g)
    eig[: s.size] = s**2 / kept.shape[0]
    proj = (held - mean) @ Vt.T
    sq_total = np.einsum("ij,ij->i", held - mean, held - mean)
    scores = []
    for q in candidates:
        sigma2 = max(eig[q:].mean(), 1e-12 * eig[0])
        lam = np.maximum(eig[:q], sigma2)
        log_det = np.log(lam).sum() + (g - q) * np.log(sigma2)
        in_span = (proj[:, :q] ** 2).sum(axis=1)
        quad = (sq_total - in_span) / sigma2 + (proj[:, :q] ** 2 / lam).sum(axis=1)
        scores.append(-0.5 * (log_det + quad.mean()))
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
    rest = eig[q:].sum() / max(X.shape[1] - q, 1)
    factors = Vt[:q] * np.sqrt(np.maximum(eig[:q] - rest, 0.0))[:, None]
    gene_var = Xc.var(axis=0)
    floor = 1e-6 * max(float(gene_var.mean()), 1e-300)
    psi = np.maximum(gene_var - np.einsum("qg,qg->g", factors, factors), floor)
    return {"mean": mean, "factors": factors, "psi": psi}
