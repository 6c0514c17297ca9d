"""Nonnegative lasso for many targets sharing one design, by Gram-based coordinate descent.

For every target t (in SMAF's U-step every gene is a target), with G = WᵀW, c_t = Wᵀx_t::

    min_u  ½‖x_t − W u‖² + λ_t Σ_j u_j      subject to  u ≥ 0.

Coordinate j moves to ``u_j ← max(0, u_j + (q_j − λ)/G_jj)``, where ``q = c − G u`` (= Wᵀr, r the
residual) is kept up to date by one axpy with the row G[j] whenever u_j changes. Coordinates with
``G_jj = 0`` (zero columns of W) are pinned to 0. After every sweep the duality gap is evaluated
from Gram quantities only (see :func:`_duality_gap`) and a target stops once
``gap <= tol · ‖x_t‖²`` (scikit-learn's criterion) or after ``max_iter`` sweeps. A target still
running after ``FACE_STEP_AFTER`` sweeps also takes face steps (:func:`_face_step`): the exact
minimiser on the current support by a float64 Cholesky solve, with Lawson and Hanson's step when
it leaves the orthant; on ill-conditioned Grams (SMAF's random starting activities, where coordinate
descent needs hundreds of sweeps) they reach the tolerance in tens. Targets that converge sooner are
solved by plain coordinate descent, exactly as the CUDA twin does.

``u`` and ``q`` live in float64 workspaces whatever the input dtype, so float32 inputs do not
accumulate rounding drift in ``q`` and the gap stays meaningful; results are cast back on output.

The error-constrained form of Cleary et al. (``min ‖u‖₁ s.t. ‖x_t − W u‖² <= ε_t, u ≥ 0``) is
solved per target by a search over λ with warm starts: λ falls geometrically from
``λ_max = max(c_t)`` until the residual fits, then a safeguarded regula falsi (Illinois) on
``log ‖r‖²`` against ``log λ`` homes in on ``‖r‖² = ε_t`` from the feasible side.

Each target is solved by the same operations whatever the thread count, so results are
bit-identical with 1 or many threads. The products that build G and c stay in BLAS
(:func:`nnlasso`, :func:`nnlasso_constrained`).
"""

from __future__ import annotations

import math

import numba
import numpy as np
import scipy.sparse

from .config import (
    CACHE,
    DESCENT_FACTOR,
    FACE_STEP_AFTER,
    FACE_STEP_EVERY,
    FACE_STEP_DROPS,
    FACE_STEP_PIVOT_TOL,
    FASTMATH,
    LAM_MIN_RATIO,
)

# numba accepts a set (not a frozenset) of fastmath flags.
_FASTMATH = set(FASTMATH)

#: Targets per parallel work item; each item allocates one workspace.
TARGETS_PER_BLOCK = 64

#: Designs with at most this fraction of nonzeros get sparse products in :func:`nnlasso`.
SPARSE_DESIGN_DENSITY = 0.1

#: Targets per block of the sparse-design product (an (m, block) buffer per block).
_COV_BLOCK = 256

# --------------------------------------------------------------------------------------------
# one target
# --------------------------------------------------------------------------------------------
@numba.njit(cache=CACHE, fastmath=_FASTMATH)
def _load_start(gram, cov_t, init_t, use_init, u, q):
    """Set ``u`` to the (clipped) warm start or zeros and ``q = cov_t − G u``."""
    m = u.shape[0]
    for j in range(m):
        q[j] = cov_t[j]
        u[j] = 0.0
        if use_init and gram[j, j] > 0.0 and init_t[j] > 0.0:
            u[j] = init_t[j]
    if use_init:
        for j in range(m):
            u_j = u[j]
            if u_j != 0.0:
                row = gram[j]
                for i in range(m):
                    q[i] -= u_j * row[i]


@numba.njit(cache=CACHE, fastmath=_FASTMATH)
def _duality_gap(cov_t, x_sq_norm, lam, u, q):
    """Duality gap of the nonnegative lasso at ``u`` from Gram quantities, in float64.

    The dual point is the scaled residual θ = s·r with ``s = min(1, λ / max_j q_j)`` (dual
    feasible: Wᵀθ = s·q <= λ). With ``A = xᵀr = ‖x‖² − cᵀu`` and ``‖r‖² = A − qᵀu``,
    ``P(u) − D(θ)`` rearranges to::

        Σ_j u_j (λ − q_j) + ½(1 − s²)·qᵀu + ½(1 − s)²·A

    which has no ``‖x‖²`` term once s = 1, so it does not suffer the cancellation of
    ``‖x‖² − 2cᵀu + uᵀGu`` near convergence.
    """
    max_q = -math.inf
    slack = 0.0
    q_dot_u = 0.0
    cov_dot_u = 0.0
    for j in range(u.shape[0]):
        q_j = float(q[j])
        if q_j > max_q:
            max_q = q_j
        u_j = float(u[j])
        if u_j != 0.0:
            slack += u_j * (lam - q_j)
            q_dot_u += q_j * u_j
            cov_dot_u += float(cov_t[j]) * u_j
    scale = 1.0 if max_q <= lam else lam / max_q
    x_dot_r = x_sq_norm - cov_dot_u
    return slack + 0.5 * (1.0 - scale * scale) * q_dot_u + 0.5 * (1.0 - scale) ** 2 * x_dot_r


@numba.njit(cache=CACHE, fastmath=_FASTMATH)
def _squared_residual(cov_t, x_sq_norm, u, q):
    """``‖x − W u‖² = ‖x‖² − cᵀu − qᵀu`` in float64."""
    acc = x_sq_norm
    for j in range(u.shape[0]):
        u_j = float(u[j])
        if u_j != 0.0:
            acc -= (float(cov_t[j]) + float(q[j])) * u_j
    return max(acc, 0.0)


@numba.njit(cache=CACHE, fastmath=_FASTMATH)
def _face_step(gram, cov_t, lam, u, q):
    """Move ``u`` towards the minimiser of the objective on its current support; returns
    ``(applied, n_active, blocked)`` (blocked: a coordinate left the support).

    On the face ``{u_j = 0 off the support A}`` the objective is the quadratic
    ``½uᵀGu − (c − λ)ᵀu``, minimised by ``z = G_AA⁻¹ (c_A − λ)`` (Cholesky in float64). ``u``
    moves to z, or, when some ``z_j <= 0``, along the segment to z as far as ``u >= 0`` allows
    (Lawson–Hanson's step; the blocking coordinate leaves the support). The objective cannot
    rise along that segment, and the step is undone if rounding made it rise. ``q = c − G u`` is
    then recomputed from ``c`` (no drift). Coordinate descent needs hundreds of sweeps on the
    ill-conditioned Grams of random or overcomplete activities; one face step on the right
    support lands on the solution. Nothing changes when G_AA is (nearly) singular.
    """
    m = u.shape[0]
    n_act = 0
    for j in range(m):
        if u[j] > 0.0:
            n_act += 1
    if n_act == 0:
        return False, 0, False
    active = np.empty(n_act, dtype=np.int64)
    n_act = 0
    for j in range(m):
        if u[j] > 0.0:
            active[n_act] = j
            n_act += 1
    chol = np.empty((n_act, n_act), dtype=np.float64)
    z = np.empty(n_act, dtype=np.float64)
    for a in range(n_act):  # lower Cholesky factor of G_AA, row by row
        row = gram[active[a]]
        for b in range(a + 1):
            acc = float(row[active[b]])
            for k in range(b):
                acc -= chol[a, k] * chol[b, k]
            if b < a:
                chol[a, b] = acc / chol[b, b]
            elif acc <= FACE_STEP_PIVOT_TOL * float(row[active[a]]):
                return False, n_act, False
            else:
                chol[a, a] = math.sqrt(acc)
    for a in range(n_act):  # forward, then backward substitution
        acc = float(cov_t[active[a]]) - lam
        for k in range(a):
            acc -= chol[a, k] * z[k]
        z[a] = acc / chol[a, a]
    for a in range(n_act - 1, -1, -1):
        acc = z[a]
        for k in range(a + 1, n_act):
            acc -= chol[k, a] * z[k]
        z[a] = acc / chol[a, a]
    step = 1.0
    blocking = -1
    for a in range(n_act):
        if z[a] <= 0.0:
            u_a = u[active[a]]
            limit = u_a / (u_a - z[a])
            if limit < step:
                step = limit
                blocking = a
    # objective on the face, ½uᵀGu − cᵀu + λΣu = λΣu − ½uᵀ(c + q), before and after
    before = 0.0
    for a in range(n_act):
        j = active[a]
        before += u[j] * (lam - 0.5 * (float(cov_t[j]) + q[j]))
    u_old = np.empty(n_act, dtype=np.float64)
    for a in range(n_act):
        j = active[a]
        u_old[a] = u[j]
        u_new = u[j] + step * (z[a] - u[j])
        u[j] = u_new if u_new > 0.0 and a != blocking else 0.0
    q_old = q.copy()
    for i in range(m):
        q[i] = cov_t[i]
    for a in range(n_act):
        u_j = u[active[a]]
        if u_j != 0.0:
            row = gram[active[a]]
            for i in range(m):
                q[i] -= u_j * row[i]
    after = 0.0
    for a in range(n_act):
        j = active[a]
        after += u[j] * (lam - 0.5 * (float(cov_t[j]) + q[j]))
    if after > before:
        for a in range(n_act):
            u[active[a]] = u_old[a]
        for i in range(m):
            q[i] = q_old[i]
        return False, n_act, False
    return True, n_act, blocking >= 0


@numba.njit(cache=CACHE, fastmath=_FASTMATH)
def _solve_target(gram, cov_t, x_sq_norm, lam, u, q, max_iter, tol):
    """Coordinate descent from the consistent state in ``u``/``q``; returns the sweeps run.

    After ``FACE_STEP_AFTER`` sweeps, a sweep that left the support unchanged is followed by a
    :func:`_face_step`, repeated on the smaller face while a coordinate leaves the support (at
    most ``FACE_STEP_DROPS`` times), then the gap is checked again. Face steps come at most once
    every ``max(FACE_STEP_EVERY, n_active² / 3m)`` sweeps, so they cost at most about as much as
    the sweeps between them.
    """
    m = u.shape[0]
    threshold = tol * x_sq_norm
    wait = FACE_STEP_AFTER
    for sweep in range(max_iter):
        support_changed = False
        for j in range(m):
            g_jj = gram[j, j]
            if g_jj <= 0.0:
                continue
            u_old = u[j]
            u_new = u_old + (q[j] - lam) / g_jj
            if u_new < 0.0:
                u_new = 0.0
            if u_new != u_old:
                if u_old == 0.0 or u_new == 0.0:
                    support_changed = True
                delta = u_new - u_old
                row = gram[j]
                for i in range(m):
                    q[i] -= delta * row[i]
                u[j] = u_new
        if _duality_gap(cov_t, x_sq_norm, lam, u, q) <= threshold:
            return sweep + 1
        wait -= 1
        if wait <= 0 and not support_changed:
            # Lawson–Hanson's inner loop: while a step was blocked, solve again on the smaller face
            applied, n_act, blocked = _face_step(gram, cov_t, lam, u, q)
            drops = 0
            while applied and blocked and drops < FACE_STEP_DROPS:
                more, n_act, blocked = _face_step(gram, cov_t, lam, u, q)
                blocked = more and blocked
                drops += 1
            wait = max(FACE_STEP_EVERY, (n_act * n_act) // (3 * m))
            if not applied:
                wait *= 2
            elif _duality_gap(cov_t, x_sq_norm, lam, u, q) <= threshold:
                return sweep + 1
    return max_iter


@numba.njit(cache=CACHE, fastmath=_FASTMATH)
def _next_lam(lam_feasible, f_feasible, lam_infeasible, f_infeasible):
    """Regula falsi step in (log λ, log ‖r‖² − log ε), kept in the middle 90 % of the bracket."""
    lo = math.log(lam_feasible)
    hi = math.log(lam_infeasible)
    width = hi - lo
    if f_infeasible - f_feasible > 0.0:
        guess = lo - f_feasible * width / (f_infeasible - f_feasible)
    else:
        guess = 0.5 * (lo + hi)
    guess = min(max(guess, lo + 0.05 * width), hi - 0.05 * width)
    return math.exp(guess)


@numba.njit(cache=CACHE, fastmath=_FASTMATH)
def _first_lam(gram, cov_t, init_t, use_init, lam_max, u, q):
    """Load the start into ``u``/``q`` and return the first λ to try.

    A warm start that solved the penalised problem at some λ has ``q_j = λ`` on its support,
    so the u-weighted mean of q there estimates that λ. Without a usable warm start: u = 0 and
    λ_max · DESCENT_FACTOR.
    """
    _load_start(gram, cov_t, init_t, use_init, u, q)
    if use_init:
        weight = 0.0
        q_dot_u = 0.0
        for j in range(u.shape[0]):
            weight += u[j]
            q_dot_u += u[j] * q[j]
        if weight > 0.0 and 0.0 < q_dot_u < weight * lam_max:
            return q_dot_u / weight
        for j in range(u.shape[0]):
            u[j] = 0.0
            q[j] = cov_t[j]
    return lam_max * DESCENT_FACTOR


@numba.njit(cache=CACHE, fastmath=_FASTMATH)
def _solve_constrained_target(gram, cov_t, x_sq_norm, eps, init_t, use_init, u, q, u_best,
                              max_iter, tol, max_search, rtol_search):
    """Search λ for one target; writes the answer to ``u_best``, returns (λ, feasible)."""
    m = u.shape[0]
    lam_max = -math.inf
    for j in range(m):
        u_best[j] = 0.0
        if gram[j, j] > 0.0 and cov_t[j] > lam_max:
            lam_max = float(cov_t[j])
    if x_sq_norm <= eps:
        return max(lam_max, 0.0), True
    if lam_max <= 0.0:  # u = 0 is already the nonnegative least-squares fit, and it misses eps
        return 0.0, False
    lam_floor = lam_max * LAM_MIN_RATIO
    log_eps = math.log(eps) if eps > 0.0 else -math.inf
    # u = 0 solves λ = λ_max exactly: the infeasible end of the bracket
    lam_infeasible = lam_max
    f_infeasible = math.log(x_sq_norm) - log_eps
    lam_feasible = 0.0
    f_feasible = 0.0
    found = False
    side_kept = 0  # Illinois: +1 / −1 when the same bracket end survived the last step
    lam = max(_first_lam(gram, cov_t, init_t, use_init, lam_max, u, q), lam_floor)
    for _ in range(max_search):
        _solve_target(gram, cov_t, x_sq_norm, lam, u, q, max_iter, tol)
        residual = _squared_residual(cov_t, x_sq_norm, u, q)
        f = math.log(max(residual, 1e-300)) - log_eps
        if residual <= eps:
            found = True
            lam_feasible = lam
            f_feasible = f
            for j in range(m):
                u_best[j] = u[j]
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
            lam = _next_lam(lam_feasible, f_feasible, lam_infeasible, f_infeasible)
        else:
            lam = max(lam * DESCENT_FACTOR, lam_floor)
    if found:
        return lam_feasible, True
    for j in range(m):  # the smallest-λ solution tried, flagged
        u_best[j] = u[j]
    return lam, False


# --------------------------------------------------------------------------------------------
# batched kernels
# --------------------------------------------------------------------------------------------
@numba.njit(parallel=True, cache=CACHE, fastmath=_FASTMATH)
def _nnlasso_gram_kernel(gram, cov, x_sq_norms, lam, init, max_iter, tol, coef, n_iter):
    """Fill ``coef``/``n_iter``; ``init`` with 0 rows means cold start. prange over blocks."""
    n_targets, m = cov.shape
    use_init = init.shape[0] > 0
    n_blocks = (n_targets + TARGETS_PER_BLOCK - 1) // TARGETS_PER_BLOCK
    for block in numba.prange(n_blocks):
        u = np.empty(m, dtype=np.float64)
        q = np.empty(m, dtype=np.float64)
        start = block * TARGETS_PER_BLOCK
        stop = min(n_targets, start + TARGETS_PER_BLOCK)
        for t in range(start, stop):
            _load_start(gram, cov[t], init[t if use_init else 0], use_init, u, q)
            n_iter[t] = _solve_target(gram, cov[t], x_sq_norms[t], lam[t], u, q, max_iter, tol)
            for j in range(m):
                coef[t, j] = u[j]


@numba.njit(parallel=True, cache=CACHE, fastmath=_FASTMATH)
def _nnlasso_constrained_kernel(gram, cov, x_sq_norms, eps, init, max_iter, tol, max_search,
                                rtol_search, coef, lam_out, feasible):
    """Constrained form for every target; ``init`` with 0 rows means cold start. prange over
    blocks."""
    n_targets, m = cov.shape
    use_init = init.shape[0] > 0
    n_blocks = (n_targets + TARGETS_PER_BLOCK - 1) // TARGETS_PER_BLOCK
    for block in numba.prange(n_blocks):
        u = np.empty(m, dtype=np.float64)
        q = np.empty(m, dtype=np.float64)
        u_best = np.empty(m, dtype=np.float64)
        start = block * TARGETS_PER_BLOCK
        stop = min(n_targets, start + TARGETS_PER_BLOCK)
        for t in range(start, stop):
            lam_t, ok = _solve_constrained_target(gram, cov[t], x_sq_norms[t], eps[t],
                                                  init[t if use_init else 0], use_init, u, q,
                                                  u_best, max_iter, tol, max_search, rtol_search)
            lam_out[t] = lam_t
            feasible[t] = ok
            for j in range(m):
                coef[t, j] = u_best[j]


# --------------------------------------------------------------------------------------------
# Python entry points (no validation: csgene's Python layer checks inputs)
# --------------------------------------------------------------------------------------------
def _per_target(value, n_targets):
    """A scalar or (n_targets,) value as a float64 (n_targets,) array."""
    return np.ascontiguousarray(np.broadcast_to(np.asarray(value, dtype=np.float64), (n_targets,)))


def _prepare(gram, cov, x_sq_norms, init):
    """Common dtype (cov's) and C layout for the kernels; init as a 0-row array when None."""
    cov = np.ascontiguousarray(cov)
    if cov.dtype not in (np.float32, np.float64):
        cov = cov.astype(np.float64)
    gram = np.ascontiguousarray(gram, dtype=cov.dtype)
    x_sq_norms = np.ascontiguousarray(x_sq_norms, dtype=np.float64)
    if init is None:
        init = np.zeros((0, cov.shape[1]), dtype=cov.dtype)
    else:
        init = np.ascontiguousarray(init, dtype=cov.dtype)
    return gram, cov, x_sq_norms, init


@numba.njit(parallel=True, cache=CACHE, fastmath=_FASTMATH)
def _squared_residuals_kernel(gram, cov, x_sq_norms, coef, out):
    """``out[t] = ‖x_t‖² − 2 c_tᵀu_t + u_tᵀ G u_t`` over u_t's support; prange over targets."""
    n_targets, m = coef.shape
    for t in numba.prange(n_targets):
        support = np.empty(m, dtype=np.int64)
        n_act = 0
        for j in range(m):
            if coef[t, j] != 0.0:
                support[n_act] = j
                n_act += 1
        linear = 0.0
        quadratic = 0.0
        for a in range(n_act):
            j = support[a]
            u_j = float(coef[t, j])
            linear += float(cov[t, j]) * u_j
            row = gram[j]
            acc = 0.0
            for b in range(n_act):
                acc += float(row[support[b]]) * float(coef[t, support[b]])
            quadratic += u_j * acc
        out[t] = x_sq_norms[t] - 2.0 * linear + quadratic


def squared_residuals(gram, cov, x_sq_norms, coef):
    """``‖x_t − W u_t‖²`` per target from Gram quantities, in float64.

    ``gram = WᵀW``, ``cov`` row t = ``Wᵀx_t``, ``coef`` row t = ``u_t`` (as the solvers here
    return it). Costs n_active² per target (the support is gathered first) instead of the m² of
    ``coef @ gram``.
    """
    coef = np.ascontiguousarray(coef)
    out = np.empty(coef.shape[0], dtype=np.float64)
    _squared_residuals_kernel(np.ascontiguousarray(gram, dtype=coef.dtype),
                              np.ascontiguousarray(cov, dtype=coef.dtype),
                              np.ascontiguousarray(x_sq_norms, dtype=np.float64), coef, out)
    return out


def lambda_floor(cov):
    """λ_max · LAM_MIN_RATIO per target: the smallest λ :func:`nnlasso_constrained_gram` tries.

    ``cov`` is (n_targets, n_atoms), row t = Dᵀ x_t; λ_max is its row maximum (at least 0), the λ
    at which u = 0 is the solution. A penalised solve at this λ is the constrained search's
    answer for a target that misses its budget even there.
    """
    return np.maximum(cov.max(axis=1), 0.0) * LAM_MIN_RATIO


def nnlasso_gram(gram, cov, x_sq_norms, lam, init=None, max_iter=1000, tol=1e-6):
    """Nonnegative lasso for many targets from Gram quantities, by coordinate descent.

    Per target t: ``min_u ½‖x_t − W u‖² + lam_t ‖u‖₁`` subject to ``u ≥ 0``.

    Parameters
    ----------
    gram : ndarray of shape (m, m)
        ``WᵀW`` (converted to ``cov``'s dtype, C order).
    cov : ndarray of shape (n_targets, m)
        Row t = ``Wᵀ x_t``; float32 or float64, C order.
    x_sq_norms : ndarray of shape (n_targets,)
        ``‖x_t‖²`` (used in float64).
    lam : float or ndarray of shape (n_targets,)
        Penalty per target (unscaled: no 1/n_samples factor).
    init : ndarray of shape (n_targets, m), optional
        Warm start (negative entries are clipped to 0). None: start from zeros.
    max_iter : int, default=1000
        Maximum coordinate sweeps per target.
    tol : float, default=1e-6
        A target stops after the first sweep whose duality gap is ``<= tol · ‖x_t‖²``
        (scikit-learn's criterion for ``Lasso``; the gap is computed in float64).

    Returns
    -------
    coef : ndarray of shape (n_targets, m)
        Solutions, in ``cov``'s dtype.
    n_iter : ndarray of shape (n_targets,), int64
        Sweeps run per target (``max_iter`` when the gap criterion was not met).
    """
    gram, cov, x_sq_norms, init = _prepare(gram, cov, x_sq_norms, init)
    n_targets, m = cov.shape
    coef = np.empty((n_targets, m), dtype=cov.dtype)
    n_iter = np.empty(n_targets, dtype=np.int64)
    _nnlasso_gram_kernel(gram, cov, x_sq_norms, _per_target(lam, n_targets), init,
                         int(max_iter), float(tol), coef, n_iter)
    return coef, n_iter


def nnlasso_constrained_gram(gram, cov, x_sq_norms, eps, init=None, max_iter=1000, tol=1e-6,
                             max_search=40, rtol_search=1e-3):
    """Error-constrained nonnegative lasso (Cleary et al.) for many targets from Gram quantities.

    Per target t: ``min ‖u‖₁`` subject to ``‖x_t − W u‖² <= eps_t`` and ``u ≥ 0``, found as the
    penalised solution at the largest λ whose residual fits (the residual grows with λ).

    Parameters
    ----------
    gram, cov, x_sq_norms, init
        As in :func:`nnlasso_gram`. A warm start also seeds the first λ tried (the u-weighted
        mean of ``Wᵀr`` on its support, which equals the λ it solved).
    eps : float or ndarray of shape (n_targets,)
        Allowed squared residual norm per target.
    max_iter, tol
        Passed to each penalised solve (sweeps and duality-gap tolerance).
    max_search : int, default=40
        Maximum penalised solves per target.
    rtol_search : float, default=1e-3
        Stop once a feasible solution has ``‖r‖² >= (1 − rtol_search) · eps_t`` or the bracket
        on λ is narrower than a factor ``1 + rtol_search``.

    Returns
    -------
    coef : ndarray of shape (n_targets, m)
        The feasible solution at the largest λ found; zeros when ``‖x_t‖² <= eps_t``; for an
        infeasible target, the solution at the smallest λ tried.
    lam : ndarray of shape (n_targets,), float64
        λ of each returned solution (``max(λ_max, 0)`` for the zero answer).
    feasible : ndarray of shape (n_targets,), bool
        False where no λ down to ``λ_max · LAM_MIN_RATIO`` (or within ``max_search`` solves)
        met the constraint, e.g. when even the nonnegative least-squares fit misses ``eps_t``.
    """
    gram, cov, x_sq_norms, init = _prepare(gram, cov, x_sq_norms, init)
    n_targets, m = cov.shape
    coef = np.empty((n_targets, m), dtype=cov.dtype)
    lam = np.empty(n_targets, dtype=np.float64)
    feasible = np.empty(n_targets, dtype=np.bool_)
    _nnlasso_constrained_kernel(gram, cov, x_sq_norms, _per_target(eps, n_targets), init,
                                int(max_iter), float(tol), int(max_search), float(rtol_search),
                                coef, lam, feasible)
    return coef, lam, feasible


@numba.njit(parallel=True, cache=CACHE, fastmath=_FASTMATH)
def _sparse_design_cov(indptr, indices, data, X, cov):
    """``cov = Xᵀ W`` for a CSR design W (n_samples, m); prange over blocks of targets.

    Each block streams the rows of X once and accumulates into an (m, block) buffer that
    stays in cache, then writes its rows of ``cov`` (n_targets, m).
    """
    n_samples, n_targets = X.shape
    m = cov.shape[1]
    n_blocks = (n_targets + _COV_BLOCK - 1) // _COV_BLOCK
    for block in numba.prange(n_blocks):
        start = block * _COV_BLOCK
        width = min(n_targets, start + _COV_BLOCK) - start
        acc = np.zeros((m, width), dtype=cov.dtype)
        for i in range(n_samples):
            x_row = X[i, start:start + width]
            for pos in range(indptr[i], indptr[i + 1]):
                weight = data[pos]
                acc_row = acc[indices[pos]]
                for t in range(width):
                    acc_row[t] += weight * x_row[t]
        for t in range(width):
            for j in range(m):
                cov[start + t, j] = acc[j, t]


def gram_quantities(W, X):
    """``WᵀW``, ``XᵀW`` (C order) and the squared column norms of X.

    Dense designs go to BLAS. A sparse design (density <= SPARSE_DESIGN_DENSITY, e.g. SMAF's
    k-sparse activities from OMP) with X in C order uses scipy for ``WᵀW`` and
    :func:`_sparse_design_cov` for ``XᵀW``, whose cost is nnz(W) · n_targets instead of
    n_samples · m · n_targets.
    """
    dtype = np.result_type(W.dtype, X.dtype, np.float32)
    W = np.asarray(W, dtype=dtype)
    X = np.asarray(X, dtype=dtype)
    x_sq_norms = np.einsum("ij,ij->j", X, X, dtype=np.float64)
    if not X.flags.c_contiguous or np.count_nonzero(W) > SPARSE_DESIGN_DENSITY * W.size:
        return W.T @ W, np.ascontiguousarray(X.T @ W), x_sq_norms
    W_sparse = scipy.sparse.csr_array(W)
    gram = np.ascontiguousarray((W_sparse.T @ W_sparse).toarray(), dtype=dtype)
    cov = np.empty((X.shape[1], W.shape[1]), dtype=dtype)
    _sparse_design_cov(W_sparse.indptr.astype(np.int64), W_sparse.indices.astype(np.int64),
                       W_sparse.data, np.ascontiguousarray(X), cov)
    return gram, cov, x_sq_norms


def nnlasso(W, X, lam, **kw):
    """Nonnegative lasso of every column of X on the design W.

    Parameters
    ----------
    W : ndarray of shape (n_samples, m)
        Design (in SMAF's U-step, the sample activities).
    X : ndarray of shape (n_samples, n_targets)
        Targets as columns (SMAF: the expression matrix, one target per gene).
    lam : float or ndarray of shape (n_targets,)
        Penalty (unscaled).
    **kw
        ``init``, ``max_iter``, ``tol`` of :func:`nnlasso_gram`.

    Returns
    -------
    coef : ndarray of shape (n_targets, m)
        Row t solves target t (SMAF: X ≈ W U with ``U = coef.T``).
    n_iter : ndarray of shape (n_targets,)
    """
    gram, cov, x_sq_norms = gram_quantities(W, X)
    return nnlasso_gram(gram, cov, x_sq_norms, lam, **kw)


def nnlasso_constrained(W, X, eps, **kw):
    """Error-constrained nonnegative lasso of every column of X on W.

    Same inputs as :func:`nnlasso` with ``eps`` (allowed squared residual per target) in place
    of ``lam``; ``**kw`` as in :func:`nnlasso_constrained_gram`, whose outputs it returns.
    """
    gram, cov, x_sq_norms = gram_quantities(W, X)
    return nnlasso_constrained_gram(gram, cov, x_sq_norms, eps, **kw)
