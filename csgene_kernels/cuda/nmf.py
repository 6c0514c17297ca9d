"""Multiplicative-update NMF on the GPU: the twin of :func:`csgene_kernels.nmf.nmf_mu`.

Same updates, same stopping rule and the same outputs as the CPU kernel (see its module
docstring): ``H`` is kept transposed as ``Ht`` (p, r), the objective comes from Gram
quantities every ``CHECK_EVERY`` iterations. Everything stays on the device inside the loop:

* the six products per iteration go to :func:`matmul`, which uses cuBLAS through CuPy or torch
  when one of them is installed with CUDA (``MATMUL_BACKEND = "auto"``), else a shared-memory
  tiled kernel of ours (``TILE`` × ``TILE`` threads per block, float64 accumulation);
* the element-wise updates run one thread per row, which also writes that row's float64 sums
  (so the sums are deterministic: no atomics);
* the objective's scalars are reduced on the device by one block; only those five numbers
  come back to the host, at each check.
"""

from __future__ import annotations

import functools
import math

import numba
import numpy as np
from numba import cuda

from ..config import CHECK_EVERY, DENOMINATOR_FLOOR
from . import any_on_device, as_device, float_dtype, simulated, to_output

#: Side of the square tiles of our matmul kernel (TILE × TILE threads per block).
TILE = 16
#: Threads per block of the row-wise kernels (one thread per row).
ROWS_PER_BLOCK = 128
#: Threads of the one-block reductions (a power of two).
REDUCE_THREADS = 256
#: "auto" (CuPy, then torch, then ours), "cupy", "torch" or "numba" (our tiled kernel).
MATMUL_BACKEND = "auto"


# --------------------------------------------------------------------------------------------
# kernels (compiled per block size, so tests can shrink them)
# --------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def _gemm_kernel(tile):
    @cuda.jit
    def gemm(a, b, out, trans_a, trans_b):
        """``out = op(a) @ op(b)`` with op = transpose when the flag is set."""
        tile_a = cuda.shared.array((tile, tile), numba.float64)
        tile_b = cuda.shared.array((tile, tile), numba.float64)
        tx = cuda.threadIdx.x
        ty = cuda.threadIdx.y
        row = cuda.blockIdx.y * tile + ty
        col = cuda.blockIdx.x * tile + tx
        n_rows, n_cols = out.shape
        inner = a.shape[0] if trans_a else a.shape[1]
        acc = 0.0
        for start in range(0, inner, tile):
            ka = start + tx
            value = 0.0
            if row < n_rows and ka < inner:
                value = a[ka, row] if trans_a else a[row, ka]
            tile_a[ty, tx] = value
            kb = start + ty
            value = 0.0
            if kb < inner and col < n_cols:
                value = b[col, kb] if trans_b else b[kb, col]
            tile_b[ty, tx] = value
            cuda.syncthreads()
            for kk in range(tile):
                acc += tile_a[ty, kk] * tile_b[kk, tx]
            cuda.syncthreads()
        if row < n_rows and col < n_cols:
            out[row, col] = acc
    return gemm


@cuda.jit
def _mu_update(factor, numerator, denominator, l1, floor, row_sums, row_cross):
    """``factor ∘= numerator / max(denominator + l1, floor)``; one thread per row, float64 sums."""
    i = cuda.grid(1)
    if i < factor.shape[0]:
        total = 0.0
        cross = 0.0
        for k in range(factor.shape[1]):
            den = denominator[i, k] + l1
            if den < floor:
                den = floor
            value = factor[i, k] * (numerator[i, k] / den)
            factor[i, k] = value
            total += value
            cross += numerator[i, k] * value
        row_sums[i] = total
        row_cross[i] = cross


@cuda.jit
def _copy2d(src, dst, transpose):
    """``dst = src`` or ``src.T``; a 2-D grid over ``dst``."""
    i, j = cuda.grid(2)
    if i < dst.shape[0] and j < dst.shape[1]:
        dst[i, j] = src[j, i] if transpose else src[i, j]


@functools.lru_cache(maxsize=None)
def _sum_kernel(threads):
    @cuda.jit
    def block_sum(a, b, use_b, out, slot):
        """``out[slot] = Σ a`` (or ``Σ a ∘ b``) over all entries of 2-D arrays, in float64, one block."""
        partial = cuda.shared.array(threads, numba.float64)
        tid = cuda.threadIdx.x
        n_cols = a.shape[1]
        acc = 0.0
        for flat in range(tid, a.shape[0] * n_cols, threads):
            i = flat // n_cols
            j = flat - i * n_cols
            acc += a[i, j] * b[i, j] if use_b else a[i, j]
        partial[tid] = acc
        cuda.syncthreads()
        stride = threads // 2
        while stride > 0:
            if tid < stride:
                partial[tid] += partial[tid + stride]
            cuda.syncthreads()
            stride //= 2
        if tid == 0:
            out[slot] = partial[0]
    return block_sum


# --------------------------------------------------------------------------------------------
# launch helpers
# --------------------------------------------------------------------------------------------
def _blocks(n, per_block):
    return max(1, math.ceil(n / per_block))


def _library_matmul():
    """``(name, module)`` of the cuBLAS front end to use, or ``("numba", None)``."""
    if simulated() or MATMUL_BACKEND == "numba":
        return "numba", None
    if MATMUL_BACKEND in ("auto", "cupy"):
        try:
            import cupy
            return "cupy", cupy
        except ImportError:
            if MATMUL_BACKEND == "cupy":
                raise
    try:
        import torch
        if torch.cuda.is_available():
            return "torch", torch
    except ImportError:
        pass
    if MATMUL_BACKEND == "torch":
        raise ImportError("MATMUL_BACKEND='torch' needs torch with CUDA")
    return "numba", None


def matmul(a, b, out, trans_a=False, trans_b=False):
    """``out = op(a) @ op(b)`` on the device (op = transpose when its flag is set).

    Parameters
    ----------
    a, b : device arrays, 2-D, C order
    out : device array of the result's shape, C order; written in place.
    trans_a, trans_b : bool
        Use ``a.T`` / ``b.T``.

    Notes
    -----
    cuBLAS through CuPy or torch (zero-copy views of the numba arrays) when available,
    otherwise our tiled kernel. The library paths and numba share the legacy default stream.
    """
    name, lib = _library_matmul()
    if name == "numba":
        n_rows, n_cols = out.shape
        grid = (_blocks(n_cols, TILE), _blocks(n_rows, TILE))
        _gemm_kernel(TILE)[grid, (TILE, TILE)](a, b, out, bool(trans_a), bool(trans_b))
        return out
    if name == "cupy":
        left, right, target = lib.asarray(a), lib.asarray(b), lib.asarray(out)
        lib.matmul(left.T if trans_a else left, right.T if trans_b else right, out=target)
        return out
    left, right, target = (lib.as_tensor(x, device="cuda") for x in (a, b, out))
    lib.matmul(left.T if trans_a else left, right.T if trans_b else right, out=target)
    return out


def _copy(src, transpose=False):
    rows, cols = (src.shape[1], src.shape[0]) if transpose else src.shape
    dst = cuda.device_array((rows, cols), dtype=src.dtype)
    if rows and cols:
        _copy2d[(_blocks(rows, TILE), _blocks(cols, TILE)), (TILE, TILE)](src, dst, transpose)
    return dst


def _reduce_into(out, slot, a, b=None):
    """``out[slot] = Σ a`` or ``Σ a ∘ b`` (float64, on the device)."""
    if a.ndim == 1:
        a = a.reshape(a.shape[0], 1)
        b = None if b is None else b.reshape(b.shape[0], 1)
    _sum_kernel(REDUCE_THREADS)[1, REDUCE_THREADS](a, a if b is None else b, b is not None, out, slot)


def _mu(factor, numerator, denominator, l1, row_sums, row_cross):
    n_rows = factor.shape[0]
    _mu_update[_blocks(n_rows, ROWS_PER_BLOCK), ROWS_PER_BLOCK](
        factor, numerator, denominator, l1, DENOMINATOR_FLOOR, row_sums, row_cross)


class _Workspace:
    """Device buffers reused across iterations."""

    def __init__(self, n, p, r, dtype):
        self.XHt = cuda.device_array((n, r), dtype)
        self.WHHt = cuda.device_array((n, r), dtype)
        self.XtW = cuda.device_array((p, r), dtype)
        self.HtWtW = cuda.device_array((p, r), dtype)
        self.WtW = cuda.device_array((r, r), dtype)
        self.HHt = cuda.device_array((r, r), dtype)
        self.W_sums = cuda.device_array(n, np.float64)
        self.W_cross = cuda.device_array(n, np.float64)
        self.H_sums = cuda.device_array(p, np.float64)
        self.H_cross = cuda.device_array(p, np.float64)
        # [Σ cross, Σ W, Σ H, ⟨WᵀW, H Hᵀ⟩]
        self.scalars = cuda.device_array(4, np.float64)


def _objective(ws, x_sq_norm, l1_W, l1_H):
    """Objective from the four device scalars (the only device-to-host copy in the loop)."""
    _reduce_into(ws.scalars, 3, ws.WtW, ws.HHt)
    cross, sum_W, sum_H, gram_inner = ws.scalars.copy_to_host()
    loss = 0.5 * max(x_sq_norm - 2.0 * cross + gram_inner, 0.0)
    return loss + l1_W * sum_W + l1_H * sum_H


def nmf_mu(X, W, H, l1_W=0.0, l1_H=0.0, max_iter=200, tol=1e-4):
    """Multiplicative-update NMF with L1 penalties, on the GPU.

    Same parameters and returns as :func:`csgene_kernels.nmf.nmf_mu` (``W`` and ``H`` are not
    modified). ``W`` and ``H`` come back as device arrays when any of ``X, W, H`` was one,
    else as numpy arrays; ``n_iter`` is an int and ``objective_history`` a numpy array.
    """
    on_device = any_on_device(X, W, H)
    dtype = float_dtype(X)
    X = as_device(X, dtype)
    W = _copy(as_device(W, dtype))
    Ht = _copy(as_device(H, dtype), transpose=True)
    n, p = X.shape
    r = W.shape[1]
    ws = _Workspace(n, p, r, dtype)
    l1_W = float(l1_W)
    l1_H = float(l1_H)

    _reduce_into(ws.scalars, 0, X, X)
    x_sq_norm = float(ws.scalars.copy_to_host()[0])
    matmul(Ht, Ht, ws.HHt, trans_a=True)
    matmul(X, Ht, ws.XHt)
    matmul(W, W, ws.WtW, trans_a=True)
    _reduce_into(ws.scalars, 0, ws.XHt, W)
    _reduce_into(ws.scalars, 1, W)
    _reduce_into(ws.scalars, 2, Ht)
    history = [_objective(ws, x_sq_norm, l1_W, l1_H)]
    n_iter = 0
    for n_iter in range(1, int(max_iter) + 1):
        if n_iter > 1:
            matmul(X, Ht, ws.XHt)
        matmul(W, ws.HHt, ws.WHHt)
        _mu(W, ws.XHt, ws.WHHt, l1_W, ws.W_sums, ws.W_cross)

        matmul(W, W, ws.WtW, trans_a=True)
        matmul(X, W, ws.XtW, trans_a=True)
        matmul(Ht, ws.WtW, ws.HtWtW)
        _mu(Ht, ws.XtW, ws.HtWtW, l1_H, ws.H_sums, ws.H_cross)
        matmul(Ht, Ht, ws.HHt, trans_a=True)

        if n_iter % CHECK_EVERY == 0 or n_iter == max_iter:
            _reduce_into(ws.scalars, 0, ws.H_cross)
            _reduce_into(ws.scalars, 1, ws.W_sums)
            _reduce_into(ws.scalars, 2, ws.H_sums)
            objective = _objective(ws, x_sq_norm, l1_W, l1_H)
            previous = history[-1]
            history.append(objective)
            if n_iter % CHECK_EVERY == 0 and tol > 0 and previous > 0 and \
                    (previous - objective) / previous < tol:
                break
    H_out = _copy(Ht, transpose=True)
    return to_output(W, on_device), to_output(H_out, on_device), n_iter, np.asarray(history)
