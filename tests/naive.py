"""Slow, obvious references: one plain numpy/scipy (or scikit-learn) version per algorithm.

The tests compare csgene's kernels and learners with these; the benchmarks time csgene against
them (``benchmarks/conftest.py`` puts this folder on ``sys.path``, so both ``import naive``).
Written for clarity, not speed: loops where the definition loops, everything recomputed in
float64 from scratch.

- :func:`omp`: textbook orthogonal matching pursuit on one sample.
- :func:`nnlasso`, :func:`nnlasso_objective`, :func:`nnlasso_constrained`: nonnegative lasso,
  penalised and error-constrained.
- :func:`nmf_mu`, :func:`nmf_objective`: multiplicative-update NMF with L1 penalties.
- :func:`project_nonnegative_ball`, :func:`snmf_modules_pg`: sparse NMF's H-step (modules in the
  nonnegative unit ball) by projected gradient.
- :func:`reconstruct`: sparse codes times modules.
- :func:`ksvd_sweep`: one K-SVD atom sweep.
- :func:`effective_size`, :func:`smaf_u_step`, :func:`smaf_w_step`, :func:`smaf`: SMAF (Cleary et
  al. 2017) on scikit-learn's solvers.
"""

from __future__ import annotations

import time
import warnings

import numpy as np
from scipy.optimize import brentq
from scipy.stats import entropy
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import Lasso, orthogonal_mp
from sklearn.utils import check_random_state

# the algorithms' constants (not tuning of the fast code): where SMAF's λ search starts, and the
# floor of a multiplicative update's denominator
from csgene_kernels.config import DENOMINATOR_FLOOR, LAM_MIN_RATIO


# ----------------------------------------------------------------------------- OMP
def omp(D, y, k):
    """Textbook OMP on one sample: pick argmax ``|Dᵀr|`` (lowest index on ties), refit by lstsq.

    Parameters
    ----------
    D : ndarray of shape (n_measurements, n_atoms)
    y : ndarray of shape (n_measurements,)
    k : int
        Largest number of atoms; stops early when no atom correlates with the residual.

    Returns
    -------
    atoms : ndarray of int64
        In the order chosen.
    coefs : ndarray
        Least-squares coefficients of those atoms.
    """
    atoms, coefs = [], np.zeros(0)
    residual = y.copy()
    for _ in range(min(k, D.shape[1])):
        corr = np.abs(D.T @ residual)
        corr[atoms] = -1.0
        best = int(np.argmax(corr))
        if corr[best] ** 2 < np.finfo(D.dtype).eps:
            break
        atoms.append(best)
        coefs = np.linalg.lstsq(D[:, atoms], y, rcond=None)[0]
        residual = y - D[:, atoms] @ coefs
    return np.array(atoms, dtype=np.int64), coefs


# ----------------------------------------------------------------------------- nonnegative lasso
def nnlasso_objective(W, X, coef, lam):
    """``½‖x − W u‖² + λ Σu`` in float64, per target.

    Parameters
    ----------
    W : ndarray of shape (n, m)
    X : ndarray of shape (n,) or (n, n_targets)
    coef : ndarray of shape (m,) or (n_targets, m)
    lam : float or ndarray of shape (n_targets,)

    Returns
    -------
    float or ndarray of shape (n_targets,)
    """
    W, X, coef = (np.asarray(a, dtype=np.float64) for a in (W, X, coef))
    return 0.5 * np.sum((X - W @ coef.T) ** 2, axis=0) + lam * coef.sum(axis=-1)


def nnlasso(W, x, lam, *, tol=1e-14, max_iter=1_000_000):
    """``argmin_{u >= 0} ½‖x − W u‖² + λ Σu`` by scikit-learn's ``Lasso(positive=True)``.

    scikit-learn scales the loss by ``1 / (2 n_samples)``, hence ``alpha = λ / n_samples``.

    Parameters
    ----------
    W : ndarray of shape (n, m)
    x : ndarray of shape (n,)
    lam : float

    Returns
    -------
    u : ndarray of shape (m,), float64
    """
    model = Lasso(alpha=lam / W.shape[0], positive=True, fit_intercept=False, tol=tol, max_iter=max_iter)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(np.asarray(W, np.float64), np.asarray(x, np.float64)).coef_


def nnlasso_constrained(W, x, eps):
    """The nonnegative lasso whose residual ``‖x − W u‖²`` equals ``eps`` (brentq on log λ).

    Parameters
    ----------
    W : ndarray of shape (n, m)
    x : ndarray of shape (n,)
    eps : float
        Between the nonnegative least-squares residual and ``‖x‖²``.

    Returns
    -------
    u : ndarray of shape (m,)
    lam : float
    """
    lam_max = float(np.max(W.T @ x))

    def excess(log_lam):
        u = nnlasso(W, x, np.exp(log_lam))
        return np.sum((x - W @ u) ** 2) - eps

    log_lam = brentq(excess, np.log(lam_max) - 12, np.log(lam_max), xtol=1e-10, rtol=1e-12)
    return nnlasso(W, x, np.exp(log_lam)), np.exp(log_lam)


# ----------------------------------------------------------------------------- NMF
def nmf_objective(X, W, H, l1_W, l1_H):
    """``½‖X − W H‖²_F + l1_W ΣW + l1_H ΣH`` in float64."""
    X, W, H = (np.asarray(a, dtype=np.float64) for a in (X, W, H))
    return 0.5 * np.sum((X - W @ H) ** 2) + l1_W * W.sum() + l1_H * H.sum()


def nmf_mu(X, W, H, l1_W, l1_H, n_iter):
    """Multiplicative updates (Lee and Seung, with L1 terms in the denominators), W then H.

    Parameters
    ----------
    X : ndarray of shape (n, p), nonnegative
    W : ndarray of shape (n, r)
    H : ndarray of shape (r, p)
        Starting factors (not modified).
    l1_W, l1_H : float
    n_iter : int

    Returns
    -------
    W, H : ndarray, float64
    """
    X, W, H = (np.array(a, dtype=np.float64) for a in (X, W, H))
    for _ in range(n_iter):
        W *= (X @ H.T) / np.maximum(W @ (H @ H.T) + l1_W, DENOMINATOR_FLOOR)
        H *= (W.T @ X) / np.maximum((W.T @ W) @ H + l1_H, DENOMINATOR_FLOOR)
    return W, H


def project_nonnegative_ball(H):
    """Each row of H projected onto {h >= 0, ‖h‖ <= 1}: clip, then shrink rows longer than 1."""
    H = np.maximum(np.asarray(H, dtype=np.float64), 0.0)
    norms = np.linalg.norm(H, axis=1, keepdims=True)
    return H / np.maximum(norms, 1.0)


def snmf_modules_pg(gram, cov, H, l1, n_iter=20000):
    """``min ½⟨A, H Hᵀ⟩ − ⟨B, Hᵀ⟩ + l1·ΣH`` over rows of H in the nonnegative unit ball.

    Plain projected gradient with step 1/‖A‖₂ (A = gram, B = cov of shape (n_genes, m)), from H.
    """
    A, B = np.asarray(gram, dtype=np.float64), np.asarray(cov, dtype=np.float64)
    H = project_nonnegative_ball(H)
    step = 1.0 / np.linalg.norm(A, 2)
    for _ in range(n_iter):
        H = project_nonnegative_ball(H - step * (A @ H - B.T + l1))
    return H


# ----------------------------------------------------------------------------- reconstruction
def reconstruct(indices, values, components):
    """Profiles ``Σ_j values[i, j] components[indices[i, j]]`` (index -1: unused slot), float64.

    Parameters
    ----------
    indices : ndarray of int, shape (n, k)
    values : ndarray of shape (n, k)
    components : ndarray of shape (m, n_genes)

    Returns
    -------
    ndarray of shape (n, n_genes)
    """
    out = np.zeros((indices.shape[0], components.shape[1]), dtype=np.float64)
    for i in range(indices.shape[0]):
        for j in range(indices.shape[1]):
            if indices[i, j] >= 0:
                out[i] += float(values[i, j]) * components[indices[i, j]].astype(np.float64)
    return out


# ----------------------------------------------------------------------------- K-SVD
def ksvd_sweep(X, atoms, codes):
    """One textbook K-SVD atom sweep with numpy's SVD; the residual recomputed from scratch.

    Each used atom in turn becomes the first right singular vector of the residual of the
    samples that use it (without its own term), and their codes the first left one times its
    singular value; unused atoms are left as they are.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_genes)
    atoms : ndarray of shape (n_atoms, n_genes)
    codes : ndarray of shape (n_samples, n_atoms)

    Returns
    -------
    atoms, codes : ndarray
        Updated copies.
    """
    atoms, codes = atoms.copy(), codes.copy()
    for j in range(atoms.shape[0]):
        users = np.flatnonzero(codes[:, j])
        if users.size == 0:
            continue
        others = codes[users] @ atoms - np.outer(codes[users, j], atoms[j])
        left, singular, right = np.linalg.svd(X[users] - others)
        atoms[j] = right[0]
        codes[users, j] = singular[0] * left[:, 0]
    return atoms, codes


# ----------------------------------------------------------------------------- SMAF
def effective_size(M):
    """``exp(entropy(|row| / Σ|row|))`` per row; 0 for a zero row."""
    M = np.abs(np.asarray(M, dtype=np.float64))
    return np.array([np.exp(entropy(row)) if row.sum() > 0 else 0.0 for row in M])


def _lasso_at(W, gram, X_cols, lams, init, max_iter, tol):
    """Nonnegative lasso ``min ½‖x − W u‖² + λ‖u‖₁`` for each column, one λ per column.

    To keep scikit-learn's one-α-per-call API, every column is rescaled by its own λ (x/λ with
    α = 1/n_samples has solution u/λ), so all columns are one multi-target ``Lasso.fit``.
    """
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


def _squared_residuals(W, X_cols, coef):
    """``‖x_g − W u_g‖²`` per column."""
    return ((X_cols - W @ coef.T) ** 2).sum(axis=0)


def smaf_u_step(X, W, eps, *, rtol=1e-3, max_search=60, max_iter=1000, tol=1e-6):
    """SMAF's module step: per gene, the sparsest nonnegative u with ``‖x_g − W u‖² <= eps``.

    The largest λ whose nonnegative-lasso residual fits the budget, by bisection on log λ
    between ``λ_max·LAM_MIN_RATIO`` and ``λ_max``, each trial solved by scikit-learn's Lasso
    (warm-started from the previous step). Genes with ``‖x_g‖² <= eps`` get no modules; genes
    that do not fit even at the smallest λ keep that solution and are counted.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_genes)
    W : ndarray of shape (n_samples, n_modules)
    eps : float

    Returns
    -------
    components : ndarray of shape (n_modules, n_genes)
    n_infeasible : int
        Genes over the budget.
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
    at_lo = _lasso_at(W, gram, X[:, searched], lo, None, max_iter, tol)
    fits = _squared_residuals(W, X[:, searched], at_lo) <= eps
    coef[searched] = at_lo  # the smallest λ: the answer for genes that never fit
    n_infeasible += int((~fits).sum())
    genes, lo, hi, warm = searched[fits], lo[fits], hi[fits], at_lo[fits]
    for _ in range(max_search):
        if genes.size == 0:
            break
        mid = np.sqrt(lo * hi)
        trial = _lasso_at(W, gram, X[:, genes], mid, warm, max_iter, tol)
        residual = _squared_residuals(W, X[:, genes], trial)
        ok = residual <= eps
        coef[genes[ok]] = trial[ok]
        lo = np.where(ok, mid, lo)
        hi = np.where(ok, hi, mid)
        done = (ok & (residual >= (1 - rtol) * eps)) | (hi <= lo * (1 + rtol))
        genes, lo, hi, warm = genes[~done], lo[~done], hi[~done], trial[~done]
    return np.ascontiguousarray(coef.T), n_infeasible


def smaf_w_step(X, U, k_max, k_min, min_fit):
    """SMAF's activity step: OMP codes (scikit-learn) with k lowered from ``k_max`` while the fit
    ``1 − ‖X − W U‖² / ‖X‖²`` stays >= ``min_fit`` (never below ``k_min``).

    Returns
    -------
    W : ndarray of shape (n_samples, n_modules)
    k : int
    fit : float
    """
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


def _mean_size(M):
    """Mean :func:`effective_size` over the nonzero rows (0 when there are none)."""
    sizes = effective_size(M)
    sizes = sizes[sizes > 0]
    return float(sizes.mean()) if sizes.size else 0.0


def smaf(X, n_components, *, sparsity=15, lda2=0.1, max_iter=10, min_sparsity=5,
         module_size_bound=None, activity_size_bound=0.0, random_state=0):
    """SMAF on scikit-learn's solvers: the algorithm, parameters and initialisation of
    :class:`csgene.dictionary.SMAF` (read its module docstring), the inner solvers replaced by
    :func:`smaf_u_step` and :func:`smaf_w_step`.

    ``random_state`` draws the same start as csgene's SMAF.

    Returns
    -------
    components : ndarray of shape (n_components, n_genes)
    activities : ndarray of shape (n_samples, n_components)
    history : list of dict
        Per iteration: ``fit``, ``lda2``, ``k``, ``module_size``, ``activity_size``,
        ``n_infeasible``, ``seconds``.
    """
    X = np.asarray(X, dtype=np.float64)
    if module_size_bound is None:
        module_size_bound = min(20.0, X.shape[1] / 20.0)
    W = check_random_state(random_state).random((X.shape[0], n_components))
    x_sq_total = (X**2).sum()
    history = []
    for _ in range(max_iter):
        start = time.perf_counter()
        U, n_infeasible = smaf_u_step(X, W, lda2 * x_sq_total / X.shape[1])
        norms = np.linalg.norm(U, axis=1)
        U = U / np.where(norms > 0, norms, 1.0)[:, None]
        W, k, fit = smaf_w_step(X, U, sparsity, min_sparsity, 1 - lda2)
        module_size, activity_size = _mean_size(U), _mean_size(W)
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
