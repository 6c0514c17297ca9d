"""Batched OMP on the GPU: the twin of :mod:`csgene_kernels.omp`, same signatures and rules.

The algorithm is the CPU kernel's (incremental Cholesky with ``Q = G[:, S] L⁻ᵀ`` and
``z = L⁻¹ c_S``; see that module's docstring). Layout on the device:

* one thread block per sample, ``THREADS_PER_BLOCK`` threads (a power of two) sharing the
  O(m) work of a step: the arg-max of ``|alpha|`` (a shared-memory tree reduction; ties go to
  the lowest index, as on the CPU) and the new row of ``Q`` with the update of ``alpha``;
* the O(k) scalar work of a step (the new Cholesky row and pivot, the dependence test) and
  the final back substitution are done by thread 0 and published through a barrier;
* at most ``MAX_BLOCKS`` blocks are launched; each loops over samples
  ``blockIdx, blockIdx + gridDim, ...`` and owns one workspace in global memory
  (``Q`` (k, m), ``L`` (k, k), ``z``, ``alpha``, ``usable``), because k and m are only known
  at run time (numba's static shared arrays need compile-time sizes). The workspaces are
  small and re-read at once, so they live in L1/L2.

Stopping rules and edge cases are the CPU kernel's: at most ``min(k, m)`` steps, atoms with
a zero Gram diagonal or a pivot ``<= max(OMP_DEPENDENCE_TOL, 100·eps)·G_jj`` are skipped, a
sample stops when the best ``alpha² < eps`` or its squared residual ``<= tol``.
"""

from __future__ import annotations

import functools
import math

import numba
import numpy as np
from numba import cuda

from ..config import DEPENDENCE_EPS_FACTOR, OMP_DEPENDENCE_TOL
from . import any_on_device, as_device, device_full, float_dtype, to_output
from .nmf import matmul

#: Threads per sample (a power of two).
THREADS_PER_BLOCK = 128
#: Most blocks launched at once (each owns one workspace and loops over samples).
MAX_BLOCKS = 4096
#: Threads per block of the row-norm kernel.
ROWS_PER_BLOCK = 128


@functools.lru_cache(maxsize=None)
def _omp_kernel(threads):
    """The OMP kernel compiled for ``threads`` threads per block."""

    @cuda.jit(device=True)
    def block_argmax_abs(alpha, usable, best_value, best_index):
        """Index of the largest usable |alpha| (lowest index on ties), -1 if none; whole block."""
        tid = cuda.threadIdx.x
        cuda.syncthreads()  # the previous result in best_index[0] has been read by everyone
        best = -1
        value_best = -1.0
        for j in range(tid, alpha.shape[0], threads):
            if usable[j]:
                value = abs(alpha[j])
                if value > value_best:
                    value_best = value
                    best = j
        best_value[tid] = value_best
        best_index[tid] = best
        cuda.syncthreads()
        stride = threads // 2
        while stride > 0:
            if tid < stride:
                other = best_index[tid + stride]
                mine = best_index[tid]
                if other >= 0:
                    other_value = best_value[tid + stride]
                    if mine < 0 or other_value > best_value[tid] or \
                            (other_value == best_value[tid] and other < mine):
                        best_value[tid] = other_value
                        best_index[tid] = other
            cuda.syncthreads()
            stride //= 2
        return best_index[0]

    @cuda.jit
    def omp_kernel(gram, dty, n_steps, use_tol, tol, y_sq_norms, tiny, dependence_tol,
                   q_ws, chol_ws, z_ws, alpha_ws, usable_ws, indices, values):
        tid = cuda.threadIdx.x
        best_value = cuda.shared.array(threads, numba.float64)
        best_index = cuda.shared.array(threads, numba.int64)
        pivot_shared = cuda.shared.array(1, numba.float64)
        n, m = dty.shape
        width = indices.shape[1]
        block = cuda.blockIdx.x
        q = q_ws[block]
        chol = chol_ws[block]
        z = z_ws[block]
        alpha = alpha_ws[block]
        usable = usable_ws[block]
        for i in range(block, n, cuda.gridDim.x):
            for slot in range(tid, width, threads):
                indices[i, slot] = -1
                values[i, slot] = 0.0
            for j in range(tid, m, threads):
                alpha[j] = dty[i, j]
                usable[j] = gram[j, j] > 0.0
            residual = y_sq_norms[i] if use_tol else 0.0
            if use_tol and residual <= tol:
                continue
            n_active = 0
            while n_active < n_steps:
                t = n_active
                atom = -1
                pivot_sq = 0.0
                while True:  # best usable atom; drop the ones dependent on the chosen set
                    atom = block_argmax_abs(alpha, usable, best_value, best_index)
                    if atom < 0 or alpha[atom] * alpha[atom] < tiny:
                        atom = -1
                        break
                    if tid == 0:
                        overlap = 0.0
                        for r in range(t):
                            chol[t, r] = q[r, atom]
                            overlap += q[r, atom] * q[r, atom]
                        diag = gram[atom, atom]
                        pivot_sq = diag - overlap
                        if pivot_sq > dependence_tol * diag:
                            pivot = math.sqrt(pivot_sq)
                            chol[t, t] = pivot
                            z[t] = alpha[atom] / pivot
                            pivot_shared[0] = pivot
                        else:
                            usable[atom] = False
                            pivot_shared[0] = -1.0
                    cuda.syncthreads()
                    if pivot_shared[0] > 0.0:
                        break
                if atom < 0:
                    break
                inv_pivot = 1.0 / pivot_shared[0]
                z_t = z[t]
                for j in range(tid, m, threads):
                    acc = gram[atom, j]
                    for r in range(t):
                        acc -= chol[t, r] * q[r, j]
                    acc *= inv_pivot
                    q[t, j] = acc
                    alpha[j] -= z_t * q[t, j]
                if tid == 0:
                    usable[atom] = False
                    indices[i, t] = atom
                n_active += 1
                residual -= numba.float64(z_t) * numba.float64(z_t)
                cuda.syncthreads()
                if use_tol and residual <= tol:
                    break
            if tid == 0:  # back substitution Lᵀ x = z
                for t in range(n_active - 1, -1, -1):
                    acc = z[t]
                    for r in range(t + 1, n_active):
                        acc -= chol[r, t] * values[i, r]
                    values[i, t] = acc / chol[t, t]
            cuda.syncthreads()

    return omp_kernel


@cuda.jit
def _row_sq_norms(Y, out):
    """``out[i] = ‖Y[i]‖²`` in float64; one thread per row."""
    i = cuda.grid(1)
    if i < Y.shape[0]:
        acc = 0.0
        for j in range(Y.shape[1]):
            acc += numba.float64(Y[i, j]) * Y[i, j]
        out[i] = acc


def _omp_gram_device(gram, dty, k, tol, y_sq_norms):
    """OMP on device inputs (C order, one dtype); returns device (indices, values)."""
    n, m = dty.shape
    k = int(k)
    n_steps = min(k, m)
    use_tol = tol > 0
    indices = device_full((n, k), -1, np.int64)
    values = device_full((n, k), 0, dty.dtype)
    if n == 0 or n_steps == 0:
        return indices, values
    if not use_tol:
        y_sq_norms = cuda.device_array(1, np.float64)
    eps = float(np.finfo(dty.dtype).eps)
    n_blocks = min(n, MAX_BLOCKS)
    q_ws = cuda.device_array((n_blocks, n_steps, m), dty.dtype)
    chol_ws = cuda.device_array((n_blocks, n_steps, n_steps), dty.dtype)
    z_ws = cuda.device_array((n_blocks, n_steps), dty.dtype)
    alpha_ws = cuda.device_array((n_blocks, m), dty.dtype)
    usable_ws = cuda.device_array((n_blocks, m), np.bool_)
    _omp_kernel(THREADS_PER_BLOCK)[n_blocks, THREADS_PER_BLOCK](
        gram, dty, n_steps, use_tol, float(tol), y_sq_norms, eps,
        max(OMP_DEPENDENCE_TOL, DEPENDENCE_EPS_FACTOR * eps),
        q_ws, chol_ws, z_ws, alpha_ws, usable_ws, indices, values)
    return indices, values


def omp_gram(gram, dty, k, tol=0.0, y_sq_norms=None):
    """Batched OMP from the Gram matrix, on the GPU.

    Same parameters, returns and rules as :func:`csgene_kernels.omp.omp_gram`; the results are
    device arrays when ``gram``, ``dty`` or ``y_sq_norms`` is one, else numpy arrays.
    """
    on_device = any_on_device(gram, dty, y_sq_norms)
    use_tol = tol > 0
    if use_tol and y_sq_norms is None:
        raise ValueError("omp_gram with tol > 0 needs y_sq_norms (the squared norm of each signal)")
    dty = as_device(dty, float_dtype(dty))
    gram = as_device(gram, dty.dtype)
    norms = as_device(y_sq_norms, np.float64) if use_tol else None
    indices, values = _omp_gram_device(gram, dty, k, tol, norms)
    return to_output(indices, on_device), to_output(values, on_device)


def _sq_norms(Y):
    out = cuda.device_array(Y.shape[0], np.float64)
    if Y.shape[0]:
        _row_sq_norms[math.ceil(Y.shape[0] / ROWS_PER_BLOCK), ROWS_PER_BLOCK](Y, out)
    return out


def omp(D, Y, k, tol=0.0):
    """Batched OMP with atoms as the columns of ``D`` (d, m), signals ``Y`` (n, d), on the GPU.

    As :func:`csgene_kernels.omp.omp`; ``DᵀD`` and ``Y D`` are computed on the device.
    """
    on_device = any_on_device(D, Y)
    dtype = float_dtype(D, Y)
    D = as_device(D, dtype)
    Y = as_device(Y, dtype)
    gram = matmul(D, D, cuda.device_array((D.shape[1], D.shape[1]), dtype), trans_a=True)
    dty = matmul(Y, D, cuda.device_array((Y.shape[0], D.shape[1]), dtype))
    norms = _sq_norms(Y) if tol > 0 else None
    indices, values = _omp_gram_device(gram, dty, k, tol, norms)
    return to_output(indices, on_device), to_output(values, on_device)


def omp_direct(U, X, k, tol=0.0):
    """Batched OMP with atoms as the rows of ``U`` (m, g), signals ``X`` (n, g), on the GPU.

    As :func:`csgene_kernels.omp.omp_direct`; ``U Uᵀ`` and ``X Uᵀ`` are computed on the device.
    """
    on_device = any_on_device(U, X)
    dtype = float_dtype(U, X)
    U = as_device(U, dtype)
    X = as_device(X, dtype)
    gram = matmul(U, U, cuda.device_array((U.shape[0], U.shape[0]), dtype), trans_b=True)
    dty = matmul(X, U, cuda.device_array((X.shape[0], U.shape[0]), dtype), trans_b=True)
    norms = _sq_norms(X) if tol > 0 else None
    indices, values = _omp_gram_device(gram, dty, k, tol, norms)
    return to_output(indices, on_device), to_output(values, on_device)
