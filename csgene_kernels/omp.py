"""Batched orthogonal matching pursuit (OMP) on a Gram matrix, one incremental Cholesky per sample.

For each sample, with G = DᵀD and c = Dᵀy, OMP greedily adds the atom with the largest
``|alpha| = |c − G[:, S] x_S|`` and refits x_S by least squares on the chosen set S.
The least-squares fit uses the Cholesky factor L of G[S, S] (``G[S, S] = L Lᵀ``) grown one row per
step. The kernel keeps ``Q = G[:, S] L⁻ᵀ`` (one new column per step, O(|S|·m)) and
``z = L⁻¹ c_S`` (one new entry per step), because then

* the new row of L is ``Q[s, :]`` for the atom s being added (no triangular solve),
* ``alpha`` drops by ``z_t · Q[:, t]`` at step t (O(m)),
* the squared residual is ``‖y‖² − ‖z‖²``,

and x_S = L⁻ᵀ z is solved once, at the end. Per step the cost is O(|S|·m); the products that
build G and c stay in BLAS (:func:`omp`, :func:`omp_direct`).

Every sample is solved by the same sequence of operations whatever the thread count, so the
results are bit-identical with 1 or many threads.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from .config import CACHE, DEPENDENCE_EPS_FACTOR, FASTMATH, OMP_DEPENDENCE_TOL

# numba accepts a set (not a frozenset) of fastmath flags.
_FASTMATH = set(FASTMATH)

#: Samples per parallel work item; each item allocates one workspace.
SAMPLES_PER_BLOCK = 64


@numba.njit(cache=CACHE, fastmath=_FASTMATH, inline="always")
def _argmax_abs_usable(alpha, usable):
    """Index of the largest |alpha| among usable atoms (lowest index on ties), -1 if none."""
    best = -1
    best_value = -1.0
    for j in range(alpha.shape[0]):
        if usable[j]:
            value = abs(alpha[j])
            if value > best_value:
                best_value = value
                best = j
    return best


@numba.njit(cache=CACHE, fastmath=_FASTMATH, inline="always")
def _new_q_row(gram_row, chol_row, q, t):
    """``q[t] = gram_row − Σ_{r<t} chol_row[r] q[r]`` (before scaling by the pivot).

    Four rows at a time: each pass over ``q[t]`` then does four FMAs per load/store.
    """
    q_t = q[t]
    m = q_t.shape[0]
    for j in range(m):
        q_t[j] = gram_row[j]
    r = 0
    while r + 4 <= t:
        w0, w1, w2, w3 = chol_row[r], chol_row[r + 1], chol_row[r + 2], chol_row[r + 3]
        q0, q1, q2, q3 = q[r], q[r + 1], q[r + 2], q[r + 3]
        for j in range(m):
            q_t[j] -= w0 * q0[j] + w1 * q1[j] + w2 * q2[j] + w3 * q3[j]
        r += 4
    while r < t:
        w0 = chol_row[r]
        q0 = q[r]
        for j in range(m):
            q_t[j] -= w0 * q0[j]
        r += 1


@numba.njit(cache=CACHE, fastmath=_FASTMATH)
def _omp_one_sample(gram, diag, corr, n_steps, use_tol, tol, y_sq_norm, tiny, dependence_tol,
                    q, chol, z, alpha, usable, atoms_out, coefs_out):
    """Run OMP for one sample, writing atoms and coefficients into ``atoms_out``/``coefs_out``.

    ``diag`` is the Gram diagonal (read contiguously, not strided through ``gram``).
    ``q`` (n_steps, m), ``chol`` (n_steps, n_steps), ``z`` (n_steps,), ``alpha`` (m,) and
    ``usable`` (m,) are workspaces; their previous content is ignored.
    """
    m = gram.shape[0]
    for j in range(m):
        alpha[j] = corr[j]
        usable[j] = diag[j] > 0.0
    residual = y_sq_norm
    if use_tol and residual <= tol:
        return
    n_active = 0
    while n_active < n_steps:
        t = n_active
        atom = -1
        pivot_sq = 0.0
        while True:  # best usable atom; drop the ones dependent on the chosen set
            atom = _argmax_abs_usable(alpha, usable)
            if atom < 0 or alpha[atom] * alpha[atom] < tiny:
                atom = -1
                break
            overlap = 0.0
            for r in range(t):
                chol[t, r] = q[r, atom]
                overlap += q[r, atom] * q[r, atom]
            pivot_sq = diag[atom] - overlap
            if pivot_sq > dependence_tol * diag[atom]:
                break
            usable[atom] = False
        if atom < 0:
            break
        pivot = math.sqrt(pivot_sq)
        chol[t, t] = pivot
        z_t = alpha[atom] / pivot
        z[t] = z_t
        _new_q_row(gram[atom], chol[t], q, t)
        inv_pivot = 1.0 / pivot
        q_t = q[t]
        for j in range(m):
            q_t[j] *= inv_pivot
            alpha[j] -= z_t * q_t[j]
        usable[atom] = False
        atoms_out[t] = atom
        n_active += 1
        residual -= float(z_t) * float(z_t)
        if use_tol and residual <= tol:
            break
    for t in range(n_active - 1, -1, -1):  # back substitution Lᵀ x = z
        acc = z[t]
        for r in range(t + 1, n_active):
            acc -= chol[r, t] * coefs_out[r]
        coefs_out[t] = acc / chol[t, t]


@numba.njit(parallel=True, cache=CACHE, fastmath=_FASTMATH)
def _omp_gram_kernel(gram, dty, n_steps, use_tol, tol, y_sq_norms, tiny, dependence_tol,
                     indices, values):
    """Fill ``indices``/``values`` (pre-set to -1/0) for every row of ``dty``; prange over blocks."""
    n, m = dty.shape
    n_blocks = (n + SAMPLES_PER_BLOCK - 1) // SAMPLES_PER_BLOCK
    diag = np.empty(m, dtype=gram.dtype)
    for j in range(m):
        diag[j] = gram[j, j]
    for block in numba.prange(n_blocks):
        q = np.empty((n_steps, m), dtype=dty.dtype)
        chol = np.empty((n_steps, n_steps), dtype=dty.dtype)
        z = np.empty(n_steps, dtype=dty.dtype)
        alpha = np.empty(m, dtype=dty.dtype)
        usable = np.empty(m, dtype=np.bool_)
        start = block * SAMPLES_PER_BLOCK
        stop = min(n, start + SAMPLES_PER_BLOCK)
        for i in range(start, stop):
            y_sq_norm = y_sq_norms[i] if use_tol else 0.0
            _omp_one_sample(gram, diag, dty[i], n_steps, use_tol, tol, y_sq_norm, tiny, dependence_tol,
                            q, chol, z, alpha, usable, indices[i], values[i])


def omp_gram(gram, dty, k, tol=0.0, y_sq_norms=None):
    """Batched OMP from the Gram matrix.

    Parameters
    ----------
    gram : ndarray of shape (m, m)
        ``DᵀD``, float32 or float64 (converted to ``dty``'s dtype, C order, if it is not already).
    dty : ndarray of shape (n, m)
        Correlations, row i = ``Dᵀ y_i``.
    k : int
        Maximum atoms per sample. May exceed ``m`` or the rank of ``D``: samples stop early.
    tol : float, default=0.0
        Stop a sample once its squared residual norm ``‖y − D x‖² <= tol`` (checked before the
        first atom too, so a signal already within ``tol`` gets none). 0 means stop only at ``k``.
    y_sq_norms : ndarray of shape (n,), optional
        ``‖y_i‖²``; required when ``tol > 0``.

    Returns
    -------
    indices : ndarray of shape (n, k), int64
        Selected atoms in the order chosen, -1 in unused slots.
    values : ndarray of shape (n, k), dtype of ``dty``
        Least-squares coefficients of those atoms, 0 in unused slots.

    Notes
    -----
    An atom is skipped when its Gram diagonal is 0 or its Cholesky pivot is at most
    ``max(OMP_DEPENDENCE_TOL, 100·eps)`` times its squared norm (dependent on the chosen ones).
    A sample stops when the best remaining ``|alpha|`` satisfies ``alpha² < eps`` (scikit-learn's
    rule). Ties go to the lowest index.
    """
    dty = np.ascontiguousarray(dty)
    gram = np.ascontiguousarray(gram, dtype=dty.dtype)
    n, m = dty.shape
    k = int(k)
    use_tol = tol > 0
    if use_tol and y_sq_norms is None:
        raise ValueError("omp_gram with tol > 0 needs y_sq_norms (the squared norm of each signal)")
    norms = (np.ascontiguousarray(y_sq_norms, dtype=np.float64) if use_tol
             else np.zeros(0, dtype=np.float64))
    eps = float(np.finfo(dty.dtype).eps)
    indices = np.full((n, k), -1, dtype=np.int64)
    values = np.zeros((n, k), dtype=dty.dtype)
    _omp_gram_kernel(gram, dty, min(k, m), use_tol, float(tol), norms, eps,
                     max(OMP_DEPENDENCE_TOL, DEPENDENCE_EPS_FACTOR * eps), indices, values)
    return indices, values


def _common_float_dtype(*arrays):
    dtype = np.result_type(*arrays)
    return dtype if dtype in (np.float32, np.float64) else np.dtype(np.float64)


def omp(D, Y, k, tol=0.0):
    """Batched OMP with atoms as the columns of ``D``.

    Parameters
    ----------
    D : ndarray of shape (d, m)
        Dictionary; column j is atom j (e.g. ``A @ components_.T`` for recovery).
    Y : ndarray of shape (n, d)
        Signals, one per row.
    k : int
        Maximum atoms per sample.
    tol : float, default=0.0
        Squared residual norm at which a sample stops (0 = only ``k``).

    Returns
    -------
    indices, values : ndarray of shape (n, k)
        As :func:`omp_gram`. ``DᵀD`` and ``Y D`` are computed with BLAS.
    """
    dtype = _common_float_dtype(D, Y)
    D = np.asarray(D, dtype=dtype)
    Y = np.asarray(Y, dtype=dtype)
    gram = np.ascontiguousarray(D.T @ D)
    dty = np.ascontiguousarray(Y @ D)
    y_sq_norms = np.einsum("ij,ij->i", Y, Y, dtype=np.float64) if tol > 0 else None
    return omp_gram(gram, dty, k, tol, y_sq_norms)


def omp_direct(U, X, k, tol=0.0):
    """Batched OMP with atoms as the rows of ``U`` (SMAF's W-step, csgene's orientation).

    :func:`omp` with ``D = Uᵀ``: ``U`` of shape (m, g) holds the atoms as rows (``components_``),
    ``X`` of shape (n, g) the signals; ``k``, ``tol`` and the returned ``indices, values`` (n, k)
    are as there. ``U Uᵀ`` and ``X Uᵀ`` are computed with BLAS.
    """
    return omp(np.asarray(U).T, X, k, tol)  # the same products: DᵀD = U Uᵀ, Y D = X Uᵀ


def codes_to_dense(indices, values, n_atoms):
    """Expand (n, k) sparse codes into an (n, n_atoms) dense matrix.

    Parameters
    ----------
    indices : ndarray of shape (n, k), int
        Atom of each slot, -1 for an unused slot.
    values : ndarray of shape (n, k)
        Coefficient of each slot.
    n_atoms : int
        Number of atoms (columns of the result).

    Returns
    -------
    ndarray of shape (n, n_atoms), dtype of ``values``
        Repeated atoms in a row are summed, as :func:`~csgene_kernels.reconstruct.reconstruct` does.
    """
    indices = np.asarray(indices)
    values = np.asarray(values)
    dense = np.zeros((indices.shape[0], int(n_atoms)), dtype=values.dtype)
    rows, slots = np.nonzero(indices >= 0)
    np.add.at(dense, (rows, indices[rows, slots]), values[rows, slots])
    return dense


@numba.njit(parallel=True, cache=CACHE, fastmath=_FASTMATH)
def _code_residuals_kernel(gram, dty, y_sq_norms, indices, values, out):
    """``out[i] = ‖y_i‖² − 2 w_i·(D y_i) + w_iᵀ G w_i`` over the code's slots; prange over samples."""
    n, k = indices.shape
    for i in numba.prange(n):
        linear = 0.0
        quadratic = 0.0
        for s in range(k):
            a = indices[i, s]
            if a < 0:
                continue
            v_a = float(values[i, s])
            linear += v_a * float(dty[i, a])
            row = gram[a]
            acc = 0.0
            for t in range(k):
                b = indices[i, t]
                if b >= 0:
                    acc += float(row[b]) * float(values[i, t])
            quadratic += v_a * acc
        out[i] = y_sq_norms[i] - 2.0 * linear + quadratic


def code_residuals(gram, dty, y_sq_norms, indices, values):
    """Squared residual ``‖y_i − w_i D‖²`` of every sample's sparse code from Gram quantities.

    ``gram = D Dᵀ`` (n_atoms, n_atoms), ``dty`` (n, n_atoms) row i = ``D y_i``, ``y_sq_norms``
    (n,) the samples' squared norms; ``indices``/``values`` as :func:`omp_gram` returns them.
    Costs n·k² instead of the n·n_features of forming the residual; computed in float64 (exact
    up to the cancellation of ``‖y‖²`` against the explained part, relative ~1e-16·‖y‖²).

    Returns
    -------
    ndarray of shape (n,), float64
    """
    out = np.empty(indices.shape[0], dtype=np.float64)
    _code_residuals_kernel(np.ascontiguousarray(gram), np.ascontiguousarray(dty),
                           np.ascontiguousarray(y_sq_norms, dtype=np.float64),
                           np.ascontiguousarray(indices, dtype=np.int64), np.ascontiguousarray(values), out)
    return out
