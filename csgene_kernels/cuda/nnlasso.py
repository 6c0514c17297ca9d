"""Nonnegative lasso on the GPU: the twin of :mod:`csgene_kernels.nnlasso` (Gram forms).

Same problems, updates, stopping rules and outputs as the CPU kernels (see that module's
docstring): coordinate descent with ``q = c − G u`` kept up to date, the duality gap from Gram
quantities after every sweep, and for the error-constrained form the same λ search
(geometric descent, then Illinois regula falsi on ``log ‖r‖²`` against ``log λ``).

Layout on the device: one thread block per target, ``THREADS_PER_BLOCK`` threads (a power of
two). Coordinates are visited in order as on the CPU; the threads share each coordinate's
axpy ``q −= δ·G[j]`` and the reductions of the gap and the residual (shared-memory trees).
The scalar logic (the λ search) is run identically by every thread on block-wide values, so
branches stay uniform. The Gram matrix is read by all blocks from global memory (it is small
and stays in L2); ``u``, ``q`` and the best ``u`` are per-block float64 workspaces in global
memory (``m`` is only known at run time). At most ``MAX_BLOCKS`` blocks run, each looping
over targets ``blockIdx, blockIdx + gridDim, ...``.
"""

from __future__ import annotations

import functools
import math

import numba
import numpy as np
from numba import cuda

from ..config import DESCENT_FACTOR, LAM_MIN_RATIO
from . import any_on_device, as_device, float_dtype, to_output

#: Threads per target (a power of two).
THREADS_PER_BLOCK = 128
#: Most blocks launched at once (each owns one workspace and loops over targets).
MAX_BLOCKS = 4096


@functools.lru_cache(maxsize=None)
def _kernels(threads):
    """The penalised and constrained kernels compiled for ``threads`` threads per block."""

    @cuda.jit(device=True)
    def block_reduce(partial):
        """Reduce ``partial`` (4, threads): row 0 by max, rows 1–3 by sum; results in column 0."""
        tid = cuda.threadIdx.x
        cuda.syncthreads()
        stride = threads // 2
        while stride > 0:
            if tid < stride:
                other = partial[0, tid + stride]
                if other > partial[0, tid]:
                    partial[0, tid] = other
                for row in range(1, 4):
                    partial[row, tid] += partial[row, tid + stride]
            cuda.syncthreads()
            stride //= 2

    @cuda.jit(device=True)
    def publish(partial, v0, v1, v2, v3):
        """Write this thread's four partial values (after everyone read the last result)."""
        tid = cuda.threadIdx.x
        cuda.syncthreads()
        partial[0, tid] = v0
        partial[1, tid] = v1
        partial[2, tid] = v2
        partial[3, tid] = v3

    @cuda.jit(device=True)
    def load_start(gram, cov_t, init_t, use_init, u, q):
        tid = cuda.threadIdx.x
        m = u.shape[0]
        cuda.syncthreads()
        for j in range(tid, m, threads):
            u[j] = 0.0
            if use_init and gram[j, j] > 0.0 and init_t[j] > 0.0:
                u[j] = init_t[j]
        cuda.syncthreads()
        for i in range(tid, m, threads):
            acc = numba.float64(cov_t[i])
            if use_init:
                for j in range(m):
                    if u[j] != 0.0:
                        acc -= u[j] * gram[j, i]
            q[i] = acc
        cuda.syncthreads()

    @cuda.jit(device=True)
    def duality_gap(partial, cov_t, x_sq_norm, lam, u, q):
        tid = cuda.threadIdx.x
        max_q = -math.inf
        slack = 0.0
        q_dot_u = 0.0
        cov_dot_u = 0.0
        for j in range(tid, u.shape[0], threads):
            q_j = q[j]
            if q_j > max_q:
                max_q = q_j
            u_j = u[j]
            if u_j != 0.0:
                slack += u_j * (lam - q_j)
                q_dot_u += q_j * u_j
                cov_dot_u += numba.float64(cov_t[j]) * u_j
        publish(partial, max_q, slack, q_dot_u, cov_dot_u)
        block_reduce(partial)
        max_q = partial[0, 0]
        scale = 1.0 if max_q <= lam else lam / max_q
        x_dot_r = x_sq_norm - partial[3, 0]
        return partial[1, 0] + 0.5 * (1.0 - scale * scale) * partial[2, 0] + \
            0.5 * (1.0 - scale) ** 2 * x_dot_r

    @cuda.jit(device=True)
    def squared_residual(partial, cov_t, x_sq_norm, u, q):
        tid = cuda.threadIdx.x
        acc = 0.0
        for j in range(tid, u.shape[0], threads):
            if u[j] != 0.0:
                acc += (numba.float64(cov_t[j]) + q[j]) * u[j]
        publish(partial, 0.0, acc, 0.0, 0.0)
        block_reduce(partial)
        return max(x_sq_norm - partial[1, 0], 0.0)

    @cuda.jit(device=True)
    def solve_target(partial, gram, cov_t, x_sq_norm, lam, u, q, max_iter, tol):
        tid = cuda.threadIdx.x
        m = u.shape[0]
        threshold = tol * x_sq_norm
        for sweep in range(max_iter):
            for j in range(m):
                g_jj = gram[j, j]
                if g_jj <= 0.0:
                    continue
                u_old = u[j]
                u_new = u_old + (q[j] - lam) / g_jj
                if u_new < 0.0:
                    u_new = 0.0
                if u_new != u_old:
                    delta = u_new - u_old
                    cuda.syncthreads()  # everyone has read u[j] and q[j]
                    for i in range(tid, m, threads):
                        q[i] -= delta * gram[j, i]
                    if tid == 0:
                        u[j] = u_new
                    cuda.syncthreads()
            if duality_gap(partial, cov_t, x_sq_norm, lam, u, q) <= threshold:
                return sweep + 1
        return max_iter

    @cuda.jit(device=True)
    def copy_vector(src, dst):
        tid = cuda.threadIdx.x
        cuda.syncthreads()
        for j in range(tid, src.shape[0], threads):
            dst[j] = src[j]
        cuda.syncthreads()

    @cuda.jit(device=True)
    def fill_vector(dst, value):
        tid = cuda.threadIdx.x
        cuda.syncthreads()
        for j in range(tid, dst.shape[0], threads):
            dst[j] = value
        cuda.syncthreads()

    @cuda.jit(device=True)
    def next_lam(lam_feasible, f_feasible, lam_infeasible, f_infeasible):
        lo = math.log(lam_feasible)
        hi = math.log(lam_infeasible)
        width = hi - lo
        if f_infeasible - f_feasible > 0.0:
            guess = lo - f_feasible * width / (f_infeasible - f_feasible)
        else:
            guess = 0.5 * (lo + hi)
        guess = min(max(guess, lo + 0.05 * width), hi - 0.05 * width)
        return math.exp(guess)

    @cuda.jit(device=True)
    def first_lam(partial, gram, cov_t, init_t, use_init, lam_max, u, q):
        load_start(gram, cov_t, init_t, use_init, u, q)
        if use_init:
            tid = cuda.threadIdx.x
            weight = 0.0
            q_dot_u = 0.0
            for j in range(tid, u.shape[0], threads):
                weight += u[j]
                q_dot_u += u[j] * q[j]
            publish(partial, 0.0, weight, q_dot_u, 0.0)
            block_reduce(partial)
            weight = partial[1, 0]
            q_dot_u = partial[2, 0]
            if weight > 0.0 and 0.0 < q_dot_u < weight * lam_max:
                return q_dot_u / weight
            load_start(gram, cov_t, init_t, False, u, q)
        return lam_max * DESCENT_FACTOR

    @cuda.jit(device=True)
    def solve_constrained_target(partial, gram, cov_t, x_sq_norm, eps, init_t, use_init, u, q,
                                 u_best, max_iter, tol, max_search, rtol_search):
        """λ search for one target; writes the answer to ``u_best``, returns (λ, feasible)."""
        tid = cuda.threadIdx.x
        m = u.shape[0]
        fill_vector(u_best, 0.0)
        lam_max = -math.inf
        for j in range(tid, m, threads):
            if gram[j, j] > 0.0 and cov_t[j] > lam_max:
                lam_max = numba.float64(cov_t[j])
        publish(partial, lam_max, 0.0, 0.0, 0.0)
        block_reduce(partial)
        lam_max = partial[0, 0]
        if x_sq_norm <= eps:
            return max(lam_max, 0.0), True
        if lam_max <= 0.0:
            return 0.0, False
        lam_floor = lam_max * LAM_MIN_RATIO
        log_eps = math.log(eps) if eps > 0.0 else -math.inf
        lam_infeasible = lam_max
        f_infeasible = math.log(x_sq_norm) - log_eps
        lam_feasible = 0.0
        f_feasible = 0.0
        found = False
        side_kept = 0
        lam = max(first_lam(partial, gram, cov_t, init_t, use_init, lam_max, u, q), lam_floor)
        for _ in range(max_search):
            solve_target(partial, gram, cov_t, x_sq_norm, lam, u, q, max_iter, tol)
            residual = squared_residual(partial, cov_t, x_sq_norm, u, q)
            f = math.log(max(residual, 1e-300)) - log_eps
            if residual <= eps:
                found = True
                lam_feasible = lam
                f_feasible = f
                copy_vector(u, u_best)
                if residual >= (1.0 - rtol_search) * eps:
                    break
                if side_kept == -1:
                    f_infeasible *= 0.5
                side_kept = -1
            else:
                lam_infeasible = lam
                f_infeasible = f
                if not found and lam <= lam_floor:
                    break
                if side_kept == 1:
                    f_feasible *= 0.5
                side_kept = 1
            if found:
                if lam_infeasible <= lam_feasible * (1.0 + rtol_search):
                    break
                lam = next_lam(lam_feasible, f_feasible, lam_infeasible, f_infeasible)
            else:
                lam = max(lam * DESCENT_FACTOR, lam_floor)
        if found:
            return lam_feasible, True
        copy_vector(u, u_best)
        return lam, False

    @cuda.jit
    def penalised_kernel(gram, cov, x_sq_norms, lam, init, use_init, max_iter, tol,
                         u_ws, q_ws, coef, n_iter):
        partial = cuda.shared.array((4, threads), numba.float64)
        tid = cuda.threadIdx.x
        block = cuda.blockIdx.x
        u = u_ws[block]
        q = q_ws[block]
        for t in range(block, cov.shape[0], cuda.gridDim.x):
            init_t = init[t if use_init else 0]
            load_start(gram, cov[t], init_t, use_init, u, q)
            sweeps = solve_target(partial, gram, cov[t], x_sq_norms[t], lam[t], u, q, max_iter, tol)
            if tid == 0:
                n_iter[t] = sweeps
            for j in range(tid, u.shape[0], threads):
                coef[t, j] = u[j]

    @cuda.jit
    def constrained_kernel(gram, cov, x_sq_norms, eps, init, use_init, max_iter, tol,
                           max_search, rtol_search, u_ws, q_ws, best_ws, coef, lam_out, feasible):
        partial = cuda.shared.array((4, threads), numba.float64)
        tid = cuda.threadIdx.x
        block = cuda.blockIdx.x
        u = u_ws[block]
        q = q_ws[block]
        u_best = best_ws[block]
        for t in range(block, cov.shape[0], cuda.gridDim.x):
            init_t = init[t if use_init else 0]
            lam_t, ok = solve_constrained_target(partial, gram, cov[t], x_sq_norms[t], eps[t],
                                                 init_t, use_init, u, q, u_best, max_iter, tol,
                                                 max_search, rtol_search)
            cuda.syncthreads()
            if tid == 0:
                lam_out[t] = lam_t
                feasible[t] = ok
            for j in range(tid, u.shape[0], threads):
                coef[t, j] = u_best[j]

    return penalised_kernel, constrained_kernel


def _per_target(value, n_targets):
    """A scalar or (n_targets,) value (host or device) as a float64 (n_targets,) device array."""
    if any_on_device(value):
        return as_device(value, np.float64)
    return as_device(np.broadcast_to(np.asarray(value, dtype=np.float64), (n_targets,)))


def _prepare(gram, cov, x_sq_norms, init):
    """Device arrays in ``cov``'s float dtype; ``init`` as a 1-row dummy when None."""
    cov = as_device(cov, float_dtype(cov))
    gram = as_device(gram, cov.dtype)
    x_sq_norms = as_device(x_sq_norms, np.float64)
    use_init = init is not None
    init = as_device(init, cov.dtype) if use_init else cuda.device_array((1, cov.shape[1]), cov.dtype)
    return gram, cov, x_sq_norms, init, use_init


def _workspaces(n_targets, m, count):
    n_blocks = max(1, min(n_targets, MAX_BLOCKS))
    return n_blocks, [cuda.device_array((n_blocks, max(m, 1)), np.float64) for _ in range(count)]


def nnlasso_gram(gram, cov, x_sq_norms, lam, init=None, max_iter=1000, tol=1e-6):
    """Nonnegative lasso for many targets from Gram quantities, on the GPU.

    Same parameters and returns as :func:`csgene_kernels.nnlasso.nnlasso_gram`; the results are
    device arrays when any array argument is one, else numpy arrays.
    """
    on_device = any_on_device(gram, cov, x_sq_norms, lam, init)
    gram, cov, x_sq_norms, init, use_init = _prepare(gram, cov, x_sq_norms, init)
    n_targets, m = cov.shape
    coef = cuda.device_array((n_targets, m), cov.dtype)
    n_iter = cuda.device_array(n_targets, np.int64)
    if n_targets:
        n_blocks, (u_ws, q_ws) = _workspaces(n_targets, m, 2)
        penalised, _ = _kernels(THREADS_PER_BLOCK)
        penalised[n_blocks, THREADS_PER_BLOCK](
            gram, cov, x_sq_norms, _per_target(lam, n_targets), init, use_init, int(max_iter),
            float(tol), u_ws, q_ws, coef, n_iter)
    return to_output(coef, on_device), to_output(n_iter, on_device)


def nnlasso_constrained_gram(gram, cov, x_sq_norms, eps, init=None, max_iter=1000, tol=1e-6,
                             max_search=40, rtol_search=1e-3):
    """Error-constrained nonnegative lasso (Cleary et al.) from Gram quantities, on the GPU.

    Same parameters and returns as :func:`csgene_kernels.nnlasso.nnlasso_constrained_gram`;
    the results are device arrays when any array argument is one, else numpy arrays.
    """
    on_device = any_on_device(gram, cov, x_sq_norms, eps, init)
    gram, cov, x_sq_norms, init, use_init = _prepare(gram, cov, x_sq_norms, init)
    n_targets, m = cov.shape
    coef = cuda.device_array((n_targets, m), cov.dtype)
    lam = cuda.device_array(n_targets, np.float64)
    feasible = cuda.device_array(n_targets, np.bool_)
    if n_targets:
        n_blocks, (u_ws, q_ws, best_ws) = _workspaces(n_targets, m, 3)
        _, constrained = _kernels(THREADS_PER_BLOCK)
        constrained[n_blocks, THREADS_PER_BLOCK](
            gram, cov, x_sq_norms, _per_target(eps, n_targets), init, use_init, int(max_iter),
            float(tol), int(max_search), float(rtol_search), u_ws, q_ws, best_ws, coef, lam,
            feasible)
    return to_output(coef, on_device), to_output(lam, on_device), to_output(feasible, on_device)
