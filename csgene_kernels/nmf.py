"""Multiplicative-update NMF with L1 sparsity on both factors (Lee & Seung; Frobenius loss).

Minimises ``½‖X − W H‖²_F + l1_W ΣW + l1_H ΣH`` over ``W, H ≥ 0`` with the updates::

    W ← W ∘ (X Hᵀ) / max(W (H Hᵀ) + l1_W, ε)
    H ← H ∘ (Wᵀ X) / max((WᵀW) H + l1_H, ε)          ε = float32 machine epsilon

which is scikit-learn's ``NMF(solver="mu", beta_loss="frobenius")`` with ``l1_ratio=1``,
``alpha_W = l1_W / n_features`` and ``alpha_H = l1_H / n_samples`` (scikit-learn floors only
exact zeros of the denominator; the floor differs only where it is below ε).

The products go to BLAS (numpy ``@`` into preallocated buffers; H is kept transposed, see
:func:`nmf_mu`); the element-wise updates run in Numba loops over rows (``prange`` once they
are large, see PARALLEL_MIN_ELEMENTS), which also accumulate, per row and in float64, what
the objective needs. The objective then costs no extra product with X::

    ‖X − W H‖² = ‖X‖² − 2⟨Wᵀ X, H⟩ + ⟨WᵀW, H Hᵀ⟩

where ``WᵀX`` and ``WᵀW`` are the ones the H update just used. It is evaluated every
``CHECK_EVERY`` iterations; for float32 inputs its relative accuracy is about
``1e-7 · ‖X‖² / ‖X − W H‖²`` because the products themselves are float32.

Per-row partial sums are added in a fixed order, so results are bit-identical with 1 or many
Numba threads (for a given BLAS thread count).
"""

from __future__ import annotations

import numba
import numpy as np
from sklearn.utils import check_random_state

from .config import CACHE, CHECK_EVERY, DENOMINATOR_FLOOR, FASTMATH

# numba accepts a set (not a frozenset) of fastmath flags.
_FASTMATH = set(FASTMATH)

#: Element-wise updates with fewer elements run on the calling thread. They cost O((n + p)·r)
#: against the O(n·p·r) BLAS products, and a parallel region entered right after a threaded
#: GEMM waits for BLAS's spinning workers: for 5,000 × 100 on 2 busy cores, serial 0.7 ms
#: against a 9–18 ms median for 2 threads (0.3 ms when the machine is idle).
PARALLEL_MIN_ELEMENTS = 1 << 22


@numba.njit(cache=CACHE, fastmath=_FASTMATH, inline="always")
def _mu_update_row(factor, numerator, denominator, l1, floor, row_sums, row_cross, i):
    """Row i of the update; writes its float64 sum and numerator·factor inner product."""
    total = 0.0
    cross = 0.0
    for k in range(factor.shape[1]):
        den = denominator[i, k] + l1
        if den < floor:
            den = floor
        value = factor[i, k] * (numerator[i, k] / den)
        factor[i, k] = value
        total += value
        cross += float(numerator[i, k]) * value
    row_sums[i] = total
    row_cross[i] = cross


@numba.njit(parallel=True, cache=CACHE, fastmath=_FASTMATH)
def _mu_update_parallel(factor, numerator, denominator, l1, floor, row_sums, row_cross):
    """``factor ∘= numerator / max(denominator + l1, floor)`` in place; prange over rows.

    Also writes, per row i and in float64, ``row_sums[i] = Σ_k factor_new[i, k]`` and
    ``row_cross[i] = Σ_k numerator[i, k] · factor_new[i, k]``.
    """
    for i in numba.prange(factor.shape[0]):
        _mu_update_row(factor, numerator, denominator, l1, floor, row_sums, row_cross, i)


@numba.njit(cache=CACHE, fastmath=_FASTMATH)
def _mu_update_serial(factor, numerator, denominator, l1, floor, row_sums, row_cross):
    """Same as :func:`_mu_update_parallel` on the calling thread."""
    for i in range(factor.shape[0]):
        _mu_update_row(factor, numerator, denominator, l1, floor, row_sums, row_cross, i)


def _mu_update(factor, numerator, denominator, l1, row_sums, row_cross):
    """Element-wise update, in parallel only when it is large (see PARALLEL_MIN_ELEMENTS).

    The choice depends on the size alone, never on the thread count, so that results are
    bit-identical whatever the thread count (the two builds may vectorise the float64 row sums
    differently).
    """
    kernel = _mu_update_parallel if factor.size >= PARALLEL_MIN_ELEMENTS else _mu_update_serial
    kernel(factor, numerator, denominator, l1, DENOMINATOR_FLOOR, row_sums, row_cross)


@numba.njit(cache=CACHE, fastmath=_FASTMATH)
def _frobenius_inner(a, b, row_out):
    """``row_out[i] = Σ_k a[i, k] · b[i, k]`` in float64 (called once per check)."""
    for i in range(a.shape[0]):
        acc = 0.0
        for k in range(a.shape[1]):
            acc += float(a[i, k]) * float(b[i, k])
        row_out[i] = acc


def nmf_init(X, rank, random_state=0):
    """Seeded nonnegative random factors, as scikit-learn's ``init="random"``.

    Parameters
    ----------
    X : ndarray of shape (n, p)
        Nonnegative data; only its mean, shape and dtype are used.
    rank : int
        Number of components r.
    random_state : int, RandomState or None
        Seed (through :func:`sklearn.utils.check_random_state`; same draws as scikit-learn).

    Returns
    -------
    W : ndarray of shape (n, r)
    H : ndarray of shape (r, p)
        ``sqrt(X.mean() / r) · |N(0, 1)|`` in X's dtype (H drawn first, like scikit-learn).
    """
    n, p = X.shape
    scale = np.sqrt(X.mean() / rank)
    rng = check_random_state(random_state)
    H = np.abs(scale * rng.standard_normal(size=(rank, p))).astype(X.dtype, copy=False)
    W = np.abs(scale * rng.standard_normal(size=(n, rank))).astype(X.dtype, copy=False)
    return W, H


class _Workspace:
    """Buffers reused across iterations (products and per-row float64 sums)."""

    def __init__(self, n, p, r, dtype):
        self.XHt = np.empty((n, r), dtype)  # X Hᵀ
        self.WHHt = np.empty((n, r), dtype)  # W (H Hᵀ)
        self.XtW = np.empty((p, r), dtype)  # (Wᵀ X)ᵀ
        self.HtWtW = np.empty((p, r), dtype)  # ((WᵀW) H)ᵀ
        self.W_sums = np.empty(n)
        self.W_cross = np.empty(n)
        self.H_sums = np.empty(p)
        self.H_cross = np.empty(p)
        self.gram_rows = np.empty(r)


def _objective(x_sq_norm, cross, WtW, HHt, sum_W, sum_H, l1_W, l1_H, ws):
    """½‖X − W H‖² + l1_W ΣW + l1_H ΣH from Gram quantities, in float64."""
    _frobenius_inner(WtW, HHt, ws.gram_rows)
    loss = 0.5 * max(x_sq_norm - 2.0 * cross + ws.gram_rows.sum(), 0.0)
    return loss + l1_W * sum_W + l1_H * sum_H


def nmf_mu(X, W, H, l1_W=0.0, l1_H=0.0, max_iter=200, tol=1e-4):
    """Multiplicative-update NMF with L1 penalties.

    Minimises ``½‖X − W H‖²_F + l1_W ΣW + l1_H ΣH`` subject to ``W, H ≥ 0``.

    Parameters
    ----------
    X : ndarray of shape (n, p)
        Nonnegative data, float32 or float64, C order (converted if not).
    W : ndarray of shape (n, r)
        Initial factor (not modified; converted to X's dtype).
    H : ndarray of shape (r, p)
        Initial factor (not modified).
    l1_W, l1_H : float, default=0.0
        L1 penalties (scikit-learn: ``alpha_W · n_features`` and ``alpha_H · n_samples``
        with ``l1_ratio=1``).
    max_iter : int, default=200
        Maximum iterations (one W update then one H update each).
    tol : float, default=1e-4
        Every ``CHECK_EVERY`` iterations, stop if ``(f_prev − f) / f_prev < tol`` where f is the
        objective and f_prev its value at the previous check (the initial objective for the
        first). ``tol=0`` runs exactly ``max_iter`` iterations.

    Returns
    -------
    W : ndarray of shape (n, r)
    H : ndarray of shape (r, p)
    n_iter : int
        Iterations run.
    objective_history : ndarray of float64
        The objective at the start and after every ``CHECK_EVERY``-th iteration (and after the
        last one if it was not a check).

    Notes
    -----
    H is kept transposed, ``Ht`` of shape (p, r) in C order: the H update then has the same
    shape as the W update (rows × r) and its numerator ``Xᵀ W`` is a GEMM with a long output,
    which OpenBLAS runs 2–4× faster than ``Wᵀ X`` with its short (r, p) output.
    """
    X = np.ascontiguousarray(X)
    dtype = X.dtype if X.dtype in (np.float32, np.float64) else np.dtype(np.float64)
    X = X.astype(dtype, copy=False)
    W = np.array(W, dtype=dtype, order="C", copy=True)
    Ht = np.array(np.asarray(H).T, dtype=dtype, order="C", copy=True)
    n, p = X.shape
    r = W.shape[1]
    ws = _Workspace(n, p, r, dtype)
    x_sq_norm = float(np.einsum("ij,ij->", X, X, dtype=np.float64))
    l1_W = float(l1_W)
    l1_H = float(l1_H)

    HHt = Ht.T @ Ht
    np.matmul(X, Ht, out=ws.XHt)
    _frobenius_inner(ws.XHt, W, ws.W_cross)
    history = [_objective(x_sq_norm, ws.W_cross.sum(), W.T @ W, HHt,
                          float(W.sum(dtype=np.float64)), float(Ht.sum(dtype=np.float64)),
                          l1_W, l1_H, ws)]
    n_iter = 0
    for n_iter in range(1, int(max_iter) + 1):
        if n_iter > 1:
            np.matmul(X, Ht, out=ws.XHt)
        np.matmul(W, HHt, out=ws.WHHt)
        _mu_update(W, ws.XHt, ws.WHHt, l1_W, ws.W_sums, ws.W_cross)

        WtW = W.T @ W
        np.matmul(X.T, W, out=ws.XtW)
        np.matmul(Ht, WtW, out=ws.HtWtW)
        _mu_update(Ht, ws.XtW, ws.HtWtW, l1_H, ws.H_sums, ws.H_cross)
        HHt = Ht.T @ Ht

        if n_iter % CHECK_EVERY == 0 or n_iter == max_iter:
            objective = _objective(x_sq_norm, ws.H_cross.sum(), WtW, HHt, ws.W_sums.sum(),
                                   ws.H_sums.sum(), l1_W, l1_H, ws)
            previous = history[-1]
            history.append(objective)
            if n_iter % CHECK_EVERY == 0 and tol > 0 and previous > 0 and \
                    (previous - objective) / previous < tol:
                break
    return W, np.ascontiguousarray(Ht.T), n_iter, np.asarray(history)
