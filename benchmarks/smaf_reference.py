"""SMAF written with scikit-learn only: the slow reference of ``test_bench_smaf.py``.

Same algorithm, parameters and initialisation as :class:`csgene.dictionary.SMAF` (read its
module docstring), with the two inner solvers replaced by scikit-learn:

* U-step: per gene, the largest λ whose nonnegative-lasso residual fits the budget, found by
  bisection on log λ between ``λ_max·1e-6`` and ``λ_max``, each trial solved by
  ``Lasso(positive=True, precompute=Gram)``. To keep scikit-learn's one-α-per-call API, every
  gene is rescaled by its own λ (x_g/λ_g with α = 1/n_samples has solution u_g/λ_g), so each
  bisection step is one multi-target ``Lasso.fit``, warm-started from the previous step.
* W-step: ``orthogonal_mp`` (precomputed Gram), k lowered from λ₁ while the fit stays >= 1 − λ₂.
"""

from __future__ import annotations

import time
import warnings

import numpy as np
from scipy.stats import entropy
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import Lasso, orthogonal_mp
from sklearn.utils import check_random_state

LAM_MIN_RATIO = 1e-6


def lasso_at(W, gram, X_cols, lams, init, max_iter, tol):
    """Nonnegative lasso ``min ½‖x − W u‖² + λ‖u‖₁`` for each column, one λ per column."""
    model = Lasso(
        alpha=1.0 / W.shape[0], positive=True, fit_intercept=False, precompute=gram,
        warm_start=init is not None, max_iter=max_iter, tol=tol,
    )
    if init is not None:
        model.coef_ = np.ascontiguousarray(init / lams[:, None])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(W, X_cols / lams[None, :])
    return np.atleast_2d(model.coef_) * lams[:, None]


def squared_residuals(W, X_cols, coef):
    """‖x_g − W u_g‖² per column."""
    return ((X_cols - W @ coef.T) ** 2).sum(axis=0)


def reference_u_step(X, W, eps, *, rtol=1e-3, max_search=60, max_iter=1000, tol=1e-6):
    """Per gene: the sparsest nonnegative u with ‖x_g − W u‖² <= eps (bisection on λ).

    Returns (components (n_modules, n_genes), number of genes over budget).
    """
    gram = W.T @ W
    usable = np.diag(gram) > 0
    cov = X.T @ W
    x_sq = (X**2).sum(axis=0)
    coef = np.zeros((X.shape[1], W.shape[1]))
    lam_max = np.where(usable[None, :], cov, -np.inf).max(axis=1)
    searched = np.flatnonzero((x_sq > eps) & (lam_max > 0))
    n_infeasible = int(((x_sq > eps) & (lam_max <= 0)).sum())
    lo = lam_max[searched] * LAM_MIN_RATIO
    hi = lam_max[searched].copy()
    at_lo = lasso_at(W, gram, X[:, searched], lo, None, max_iter, tol)
    fits = squared_residuals(W, X[:, searched], at_lo) <= eps
    coef[searched] = at_lo  # the smallest λ: the answer for genes that never fit
    n_infeasible += int((~fits).sum())
    genes, lo, hi, warm = searched[fits], lo[fits], hi[fits], at_lo[fits]
    for _ in range(max_search):
        if genes.size == 0:
            break
        mid = np.sqrt(lo * hi)
        trial = lasso_at(W, gram, X[:, genes], mid, warm, max_iter, tol)
        residual = squared_residuals(W, X[:, genes], trial)
        ok = residual <= eps
        coef[genes[ok]] = trial[ok]
        lo = np.where(ok, mid, lo)
        hi = np.where(ok, hi, mid)
        done = (ok & (residual >= (1 - rtol) * eps)) | (hi <= lo * (1 + rtol))
        genes, lo, hi, warm = genes[~done], lo[~done], hi[~done], trial[~done]
    return np.ascontiguousarray(coef.T), n_infeasible


def reference_w_step(X, U, k_max, k_min, min_fit):
    """OMP codes with the sparsest k in [k_min, k_max] whose fit is >= min_fit."""
    x_sq_total = (X**2).sum()
    best = None
    for k in range(k_max, k_min - 1, -1):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # early stop on dependent atoms
            W = np.atleast_2d(orthogonal_mp(U.T, X.T, n_nonzero_coefs=k, precompute=True).T)
        fit = 1 - ((X - W @ U) ** 2).sum() / x_sq_total
        if fit < min_fit and best is not None:
            break
        best = (W, k, fit)
        if fit < min_fit:
            break
    return best


def mean_size(M):
    """Mean exp-entropy of |row|/Σ|row| over nonzero rows."""
    M = np.abs(M)
    rows = M[M.sum(axis=1) > 0]
    return float(np.mean([np.exp(entropy(r)) for r in rows])) if len(rows) else 0.0


def smaf_reference(
    X, n_components, *, sparsity=15, lda2=0.1, max_iter=10, min_sparsity=5,
    module_size_bound=None, activity_size_bound=0.0, random_state=0,
):
    """SMAF with scikit-learn solvers; ``random_state`` draws the same start as csgene's SMAF.

    Returns
    -------
    components : ndarray of shape (n_components, n_genes)
    activities : ndarray of shape (n_samples, n_components)
    history : list of dict (``fit``, ``lda2``, ``k``, ``module_size``, ``activity_size``,
        ``n_infeasible``, ``seconds``)
    """
    X = np.asarray(X, dtype=np.float64)
    if module_size_bound is None:
        module_size_bound = min(20.0, X.shape[1] / 20.0)
    W = check_random_state(random_state).random((X.shape[0], n_components))
    x_sq_total = (X**2).sum()
    history = []
    for _ in range(max_iter):
        start = time.perf_counter()
        U, n_infeasible = reference_u_step(X, W, lda2 * x_sq_total / X.shape[1])
        norms = np.linalg.norm(U, axis=1)
        U = U / np.where(norms > 0, norms, 1.0)[:, None]
        W, k, fit = reference_w_step(X, U, sparsity, min_sparsity, 1 - lda2)
        module_size, activity_size = mean_size(U), mean_size(W)
        history.append({
            "fit": fit, "lda2": lda2, "k": k, "module_size": module_size,
            "activity_size": activity_size, "n_infeasible": n_infeasible,
            "seconds": time.perf_counter() - start,
        })
        if module_size < module_size_bound:
            lda2 /= 2
        if activity_size < activity_size_bound:
            lda2 /= 2
    return U, W, history
