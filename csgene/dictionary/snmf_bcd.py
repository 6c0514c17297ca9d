"""Sparse NMF by alternating exact steps, with the modules learned from sufficient statistics.

:class:`~csgene.dictionary.SparseNMF` with ``solver="bcd"`` minimises::

    ½‖X − W H‖²_F + l1_activities·ΣW + l1_components·ΣH   over W >= 0, H >= 0, ‖h_j‖₂ <= 1

(h_j the rows of H, the modules) by alternating two steps; one outer iteration is one of each:

* **W-step**, per sample and exact (up to the lasso's duality-gap tolerance): the nonnegative
  lasso of x_i on the modules, ``min_w ½‖x_i − w H‖² + l1_activities·Σw, w >= 0``, solved
  from ``H Hᵀ`` and ``x_i Hᵀ`` by coordinate descent warm-started from the previous W
  (:func:`csgene_kernels.nnlasso.nnlasso_gram`, whose penalty is the unscaled λ used here).
* **H-step** from the sufficient statistics ``A = WᵀW`` (m × m) and ``B = XᵀW`` (n_genes × m)
  only: block coordinate descent on the modules with projection onto the nonnegative unit ball
  (Mairal, Bach, Ponce & Sapiro, JMLR 2010, "Online learning for matrix factorization and
  sparse coding", Algorithm 2; positivity as in SPAMS' ``posD``). For module j, with the
  others fixed, the objective is ``(A_jj/2)‖h_j − u_j‖² + l1_components·Σh_j + const`` with
  ``u_j = h_j + (b_j − Hᵀ a_j)/A_jj``, so the exact block minimiser is the projection of
  ``u_j − l1_components/A_jj`` onto {h >= 0, ‖h‖ <= 1}: clip at zero, then divide by the norm
  when it exceeds one. The L1 on the modules is thus an exact proximal step.

Both steps minimise their block exactly or descend from their warm start (coordinate descent
never increases its objective), so the objective never increases from one outer iteration to
the next. The objective itself comes from the same sums,
``½(‖X‖² − 2⟨B, Hᵀ⟩ + ⟨A, H Hᵀ⟩) + l1_activities·ΣW + l1_components·ΣH``, so an out-of-core
fit (:mod:`csgene.outofcore.snmf`) that accumulates A, B and ΣW block by block over one pass
per outer iteration runs the same H-step and stopping rule as the in-memory fit.

Modules no sample uses (``A_jj = 0``) are kept as they are: re-seeding one from a data sample
would need another pass out of core and a choice of sample, while a kept module is a
nonnegative unit vector that the next W-step may still pick up; the objective stays monotone.
"""

from __future__ import annotations

import numpy as np

from .._random import check_random_state
from ._base import unit_rows

#: Largest number of H-step sweeps per outer iteration (Mairal et al. use a few).
MODULE_SWEEPS = 10
#: An H-step stops after the first sweep that moves no module by more than this (modules have
#: norm <= 1, so the change is absolute and relative at once).
MODULE_TOL = 1e-6
#: Duality-gap tolerance of the W-step's lasso (relative to ‖x_i‖²).
ACTIVITY_TOL = 1e-8
#: Coordinate-descent sweeps per sample in one W-step (warm starts need few).
ACTIVITY_MAX_ITER = 1000


def initial_modules(x_mean: float, n_genes: int, n_components: int, seed: int, dtype) -> np.ndarray:
    """The starting modules: :func:`csgene_kernels.nmf.nmf_init`'s H, rows scaled to unit norm.

    ``nmf_init(X, r, random_state=seed)`` draws H first, as ``|sqrt(mean(X)/r)·N(0, 1)|`` of
    shape (r, n_genes); this draws the same H from the mean alone (no n_samples × r W is drawn),
    so an out-of-core fit gets the in-memory start from its per-gene sums.

    Parameters
    ----------
    x_mean : float
        Mean of every value of X.
    n_genes, n_components : int
    seed : int
    dtype : numpy dtype

    Returns
    -------
    ndarray of shape (n_components, n_genes)
        Nonnegative, unit-norm rows.
    """
    scale = np.sqrt(x_mean / n_components)
    rng = check_random_state(seed)
    H = np.abs(scale * rng.standard_normal(size=(n_components, n_genes))).astype(dtype, copy=False)
    return np.ascontiguousarray(unit_rows(H)[0])


def update_activities(kern, X, H, x_sq_norms, l1, init):
    """W-step: per sample, ``min_w ½‖x − w H‖² + l1·Σw`` over w >= 0, warm from ``init``.

    Parameters
    ----------
    kern : kernel namespace
        :func:`csgene._device.kernels` of the learner's device.
    X : ndarray of shape (n_samples, n_genes)
    H : ndarray of shape (n_components, n_genes)
        X's dtype.
    x_sq_norms : ndarray of shape (n_samples,)
        ``‖x_i‖²`` (float64).
    l1 : float
    init : ndarray of shape (n_samples, n_components) or None

    Returns
    -------
    ndarray of shape (n_samples, n_components), X's dtype
    """
    gram = np.ascontiguousarray(H @ H.T)
    cov = np.ascontiguousarray(X @ H.T)
    W, _ = kern.nnlasso_gram(gram, cov, x_sq_norms, float(l1), init=init, max_iter=ACTIVITY_MAX_ITER,
                             tol=ACTIVITY_TOL)
    return np.ascontiguousarray(W, dtype=X.dtype)


def activity_sums(X, W) -> dict:
    """The sums over samples the H-step and the objective need: ``WᵀW``, ``XᵀW``, ``ΣW`` per module."""
    return {"gram": W.T @ W, "cov": X.T @ W, "w_sum": W.sum(axis=0, dtype=np.float64)}


def update_modules(gram, cov, H, *, l1=0.0, max_sweeps=MODULE_SWEEPS, tol=MODULE_TOL):
    """H-step: block coordinate descent on the modules from ``A = WᵀW`` and ``B = XᵀW`` only.

    Minimises ``½⟨A, H Hᵀ⟩ − ⟨B, Hᵀ⟩ + l1·ΣH`` (``½‖X − W H‖² + l1·ΣH`` up to a constant) over
    H >= 0 with every row in the unit ball, one module at a time (Mairal et al. 2010,
    Algorithm 2, with positivity), warm from ``H``. Computed in float64.

    Parameters
    ----------
    gram : ndarray of shape (m, m)
        ``A = WᵀW``.
    cov : ndarray of shape (n_genes, m)
        ``B = XᵀW``.
    H : ndarray of shape (m, n_genes)
        Current modules (nonnegative, rows of norm <= 1).
    l1 : float
        L1 weight on H.
    max_sweeps : int
    tol : float
        Stop after the first sweep in which no module moves by more than ``tol`` (Euclidean).

    Returns
    -------
    H : ndarray of shape (m, n_genes)
        In ``H``'s dtype.
    n_sweeps : int
    """
    A = np.asarray(gram, dtype=np.float64)
    Bt = np.ascontiguousarray(np.asarray(cov, dtype=np.float64).T)
    D = np.array(H, dtype=np.float64, order="C")
    n_sweeps = 0
    for n_sweeps in range(1, max_sweeps + 1):
        largest = 0.0
        for j in range(D.shape[0]):
            a_jj = A[j, j]
            if a_jj <= 0:  # no sample uses module j: keep it (see the module docstring)
                continue
            u = D[j] + (Bt[j] - A[j] @ D - l1) / a_jj
            np.maximum(u, 0.0, out=u)
            norm = np.linalg.norm(u)
            if norm > 1.0:
                u /= norm
            largest = max(largest, float(np.linalg.norm(u - D[j])))
            D[j] = u
        if largest <= tol:
            break
    return np.ascontiguousarray(D, dtype=np.asarray(H).dtype), n_sweeps


def objective_from_sums(x_sq_total, gram, cov, w_sum, H, l1_activities, l1_components):
    """``½‖X − W H‖² + l1_activities·ΣW + l1_components·ΣH`` and ``‖X − W H‖²`` from sums.

    ``‖X − W H‖² = ‖X‖² − 2⟨B, Hᵀ⟩ + ⟨A, H Hᵀ⟩`` (float64; clipped at zero against round-off).
    """
    H = np.asarray(H, dtype=np.float64)
    cross = float(np.einsum("gj,jg->", np.asarray(cov, dtype=np.float64), H))
    fitted = float(np.einsum("ij,ij->", np.asarray(gram, dtype=np.float64), H @ H.T))
    residual = max(float(x_sq_total) - 2.0 * cross + fitted, 0.0)
    penalty = l1_activities * float(np.sum(w_sum)) + l1_components * float(H.sum())
    return 0.5 * residual + penalty, residual


def converged(objective, tol) -> bool:
    """Whether the last outer iteration lowered the objective by less than ``tol`` (relative)."""
    if len(objective) < 2:
        return False
    before, after = objective[-2], objective[-1]
    return before - after <= tol * max(abs(before), np.finfo(np.float64).tiny)
