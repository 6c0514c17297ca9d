"""Nonnegative lasso kernels against scikit-learn, scipy and optimality conditions."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize, nnls

from csgene_kernels.nnlasso import (
    TARGETS_PER_BLOCK,
    nnlasso,
    nnlasso_constrained,
    nnlasso_constrained_gram,
    nnlasso_gram,
    squared_residuals,
)
from csgene_kernels.threads import limit_threads

import naive


def _problem(n_samples, m, n_targets, seed, dtype=np.float64):
    """Nonnegative design and targets with a sparse nonnegative part plus noise."""
    rng = np.random.default_rng(seed)
    W = np.abs(rng.standard_normal((n_samples, m)))
    U = np.maximum(rng.standard_normal((m, n_targets)), 0.0) * (rng.random((m, n_targets)) < 0.3)
    X = W @ U + 0.5 * rng.standard_normal((n_samples, n_targets))
    return W.astype(dtype), X.astype(dtype)


def _lam_max(W, X):
    return np.maximum((X.T @ W).max(axis=1), 0.0)


# ------------------------------------------------------------------------------------------
# penalised form
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", [0, 1])
def test_matches_sklearn_objective_float64(seed):
    W, X = _problem(40, 15, 12, seed)
    lam = _lam_max(W, X) * np.random.default_rng(seed).uniform(0.01, 0.6, X.shape[1])
    coef, n_iter = nnlasso(W, X, lam, tol=1e-12, max_iter=100_000)
    assert coef.shape == (12, 15) and coef.dtype == np.float64 and n_iter.dtype == np.int64
    assert np.all(coef >= 0) and np.all(n_iter < 100_000)
    for t in range(X.shape[1]):
        ours = naive.nnlasso_objective(W, X[:, t], coef[t], lam[t])
        ref = naive.nnlasso_objective(W, X[:, t], naive.nnlasso(W, X[:, t], lam[t]), lam[t])
        assert ours == pytest.approx(ref, rel=1e-6)
        assert ours <= ref * (1 + 1e-9)


def test_matches_bounded_quasi_newton_reference():
    """Independent of the lasso: with u ≥ 0 the L1 term is linear, so L-BFGS-B solves it."""
    W, X = _problem(30, 8, 3, seed=5)
    lam = 0.1 * _lam_max(W, X)
    coef, _ = nnlasso(W, X, lam, tol=1e-12, max_iter=100_000)
    for t in range(X.shape[1]):
        def fun(u, t=t):
            r = W @ u - X[:, t]
            return 0.5 * r @ r + lam[t] * u.sum(), W.T @ r + lam[t]
        ref = minimize(fun, np.zeros(W.shape[1]), jac=True, method="L-BFGS-B",
                       bounds=[(0, None)] * W.shape[1], options={"ftol": 1e-15, "gtol": 1e-12})
        assert naive.nnlasso_objective(W, X[:, t], coef[t], lam[t]) <= ref.fun + 1e-9 * abs(ref.fun)
        np.testing.assert_allclose(coef[t], ref.x, atol=1e-4)


def test_optimality_conditions():
    """KKT: Wᵀr <= λ everywhere, = λ on the support, and the reported gap criterion holds."""
    W, X = _problem(60, 25, 30, seed=2)
    lam = 0.05 * _lam_max(W, X)
    coef, _ = nnlasso(W, X, lam, tol=1e-13, max_iter=100_000)
    q = (X - W @ coef.T).T @ W  # (n_targets, m) = Wᵀ r per target
    scale = lam[:, None]
    assert np.all(q <= scale * (1 + 1e-5))
    on_support = coef > 0
    np.testing.assert_allclose(q[on_support], np.broadcast_to(scale, q.shape)[on_support],
                               rtol=1e-5)


def test_float32_close_to_float64_reference():
    W, X = _problem(50, 20, 10, seed=3, dtype=np.float32)
    lam = 0.05 * _lam_max(W, X).astype(np.float64)
    coef, n_iter = nnlasso(W, X, lam, tol=1e-8, max_iter=10_000)
    assert coef.dtype == np.float32 and np.all(n_iter < 10_000)
    for t in range(X.shape[1]):
        ours = naive.nnlasso_objective(W, X[:, t], coef[t], lam[t])
        ref = naive.nnlasso_objective(W, X[:, t], naive.nnlasso(W, X[:, t], lam[t]), lam[t])
        assert ours == pytest.approx(ref, rel=1e-4)


def test_warm_start_needs_fewer_sweeps():
    W, X = _problem(80, 30, 40, seed=4)
    lam = 0.05 * _lam_max(W, X)
    previous, _ = nnlasso(W, X, 1.1 * lam, tol=1e-10, max_iter=100_000)
    cold, cold_iter = nnlasso(W, X, lam, tol=1e-10, max_iter=100_000)
    warm, warm_iter = nnlasso(W, X, lam, init=previous, tol=1e-10, max_iter=100_000)
    assert warm_iter.sum() < cold_iter.sum()
    for t in range(X.shape[1]):
        assert naive.nnlasso_objective(W, X[:, t], warm[t], lam[t]) == pytest.approx(
            naive.nnlasso_objective(W, X[:, t], cold[t], lam[t]), rel=1e-8)
    # a warm start at the answer stops after one sweep
    _, again = nnlasso(W, X, lam, init=cold, tol=1e-8, max_iter=100_000)
    assert np.all(again == 1)


def test_lam_at_or_above_lam_max_gives_zeros():
    W, X = _problem(30, 10, 6, seed=6)
    X[:, 0] = 0.0  # zero target
    X[:, 1] = -np.abs(X[:, 1]) - W.sum(axis=1)  # every correlation negative: lam_max = 0
    lam_max = _lam_max(W, X)
    lam = np.where(np.arange(6) % 2 == 0, lam_max, 2.0 * lam_max + 1.0)
    coef, n_iter = nnlasso(W, X, lam)
    assert np.all(coef == 0.0) and np.all(n_iter == 1)
    # just below lam_max one coefficient becomes active
    coef, _ = nnlasso(W, X[:, 2:], 0.99 * lam_max[2:], tol=1e-12)
    assert np.all((coef > 0).sum(axis=1) >= 1)


def test_negative_warm_start_is_clipped():
    W, X = _problem(30, 10, 4, seed=7)
    lam = 0.1 * _lam_max(W, X)
    ref, _ = nnlasso(W, X, lam, tol=1e-12)
    init = -np.ones((4, 10))
    got, _ = nnlasso(W, X, lam, init=init, tol=1e-12)
    np.testing.assert_allclose(got, ref, atol=1e-8)


def test_zero_columns_in_design():
    W, X = _problem(40, 12, 8, seed=8)
    W[:, [0, 5]] = 0.0
    lam = 0.05 * _lam_max(W, X)
    init = np.ones((8, 12))  # nonzero warm start on the zero columns too
    for start in (None, init):
        coef, n_iter = nnlasso(W, X, lam, init=start, tol=1e-12, max_iter=100_000)
        assert np.all(coef[:, [0, 5]] == 0.0) and np.all(np.isfinite(coef))
        for t in range(X.shape[1]):
            ref = naive.nnlasso_objective(W, X[:, t], naive.nnlasso(W, X[:, t], lam[t]), lam[t])
            assert naive.nnlasso_objective(W, X[:, t], coef[t], lam[t]) == pytest.approx(ref, rel=1e-6)


def test_max_iter_is_respected():
    W, X = _problem(40, 20, 5, seed=9)
    coef, n_iter = nnlasso(W, X, 1e-3 * _lam_max(W, X), tol=1e-15, max_iter=2)
    assert np.all(n_iter == 2) and np.all(coef >= 0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_identical_with_one_and_two_threads(dtype):
    W, X = _problem(60, 25, 3 * TARGETS_PER_BLOCK + 5, seed=10, dtype=dtype)
    lam = 0.05 * _lam_max(W, X)
    with limit_threads(numba_threads=1):
        one = nnlasso(W, X, lam, tol=1e-9)
        one_c = nnlasso_constrained(W, X, 0.3 * np.sum(X.astype(float) ** 2, axis=0))
    with limit_threads(numba_threads=2):
        two = nnlasso(W, X, lam, tol=1e-9)
        two_c = nnlasso_constrained(W, X, 0.3 * np.sum(X.astype(float) ** 2, axis=0))
    for a, b in zip(one + one_c, two + two_c):
        np.testing.assert_array_equal(a, b)


def _random_activities_problem(n_samples, m, n_targets, seed, dtype=np.float64):
    """SMAF's first U-step: uniform random activities (a Gram with one huge eigenvalue, so plain
    coordinate descent needs hundreds of sweeps) and nonnegative sparse targets."""
    rng = np.random.default_rng(seed)
    W = rng.random((n_samples, m))
    X = np.maximum(rng.standard_normal((n_samples, n_targets)), 0.0)
    X *= rng.random((n_samples, n_targets)) < 0.3
    return W.astype(dtype), X.astype(dtype)


@pytest.mark.parametrize("lam_ratio", [1e-6, 1e-2])
def test_face_steps_solve_ill_conditioned_problems(lam_ratio):
    """Face steps (after FACE_STEP_AFTER sweeps) reach scikit-learn's optimum in few sweeps where
    coordinate descent alone ran into max_iter (1000 sweeps, mean 716 on the benchmark's first U-step)."""
    W, X = _random_activities_problem(200, 60, 16, seed=11)
    lam = lam_ratio * _lam_max(W, X)
    coef, n_iter = nnlasso(W, X, lam, tol=1e-12, max_iter=1000)
    assert np.all(n_iter < 200), n_iter
    for t in range(X.shape[1]):
        ours = naive.nnlasso_objective(W, X[:, t], coef[t], lam[t])
        ref = naive.nnlasso_objective(W, X[:, t], naive.nnlasso(W, X[:, t], lam[t]), lam[t])
        assert ours <= ref + 1e-10 * np.sum(X[:, t] ** 2)
    if lam_ratio < 1e-3:  # next to nonnegative least squares
        for t in range(X.shape[1]):
            assert np.sum((X[:, t] - W @ coef[t]) ** 2) == pytest.approx(nnls(W, X[:, t])[1] ** 2, rel=1e-5)


def test_face_steps_with_singular_gram():
    """More modules than samples: G_AA may be singular; the face step must then change nothing
    and coordinate descent still converges to the reference's objective."""
    W, X = _random_activities_problem(15, 40, 8, seed=12)
    lam = 1e-3 * _lam_max(W, X)
    coef, _ = nnlasso(W, X, lam, tol=1e-10, max_iter=20_000)
    assert np.all(coef >= 0)
    for t in range(X.shape[1]):
        ours = naive.nnlasso_objective(W, X[:, t], coef[t], lam[t])
        ref = naive.nnlasso_objective(W, X[:, t], naive.nnlasso(W, X[:, t], lam[t]), lam[t])
        assert ours <= ref + 1e-8 * np.sum(X[:, t] ** 2)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_face_steps_identical_with_one_and_two_threads(dtype):
    W, X = _random_activities_problem(120, 50, 2 * TARGETS_PER_BLOCK + 7, seed=13, dtype=dtype)
    lam = 1e-6 * _lam_max(W, X)
    eps = 0.5 * np.sum(X.astype(float) ** 2, axis=0)
    with limit_threads(numba_threads=1):
        one = nnlasso(W, X, lam, tol=1e-9) + nnlasso_constrained(W, X, eps)
    with limit_threads(numba_threads=2):
        two = nnlasso(W, X, lam, tol=1e-9) + nnlasso_constrained(W, X, eps)
    for a, b in zip(one, two):
        np.testing.assert_array_equal(a, b)


def test_c_and_f_order_inputs_agree():
    W, X = _problem(50, 15, 20, seed=11)
    lam = 0.05 * _lam_max(W, X)
    ref, _ = nnlasso(W, X, lam, tol=1e-10)
    for W_in, X_in in [(np.asfortranarray(W), X), (W, np.asfortranarray(X)),
                       (np.asfortranarray(W), np.asfortranarray(X)), (W[:, ::1], X.T.copy().T)]:
        got, _ = nnlasso(W_in, X_in, lam, tol=1e-10)
        np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sparse_design_products_match_blas(dtype):
    """A k-sparse design (SMAF's activities) takes the sparse product path; same answer."""
    rng = np.random.default_rng(21)
    W = np.abs(rng.standard_normal((300, 40))) * (rng.random((300, 40)) < 0.05)
    W[:, 7] = 0.0
    X = W @ np.abs(rng.standard_normal((40, 3 * 256 + 11))) + rng.standard_normal((300, 779))
    W, X = W.astype(dtype), X.astype(dtype)
    gram = W.T.astype(np.float64) @ W.astype(np.float64)
    cov = X.T.astype(np.float64) @ W.astype(np.float64)
    lam = 0.1 * np.maximum(cov.max(axis=1), 1e-3)
    ref, _ = nnlasso_gram(gram.astype(dtype), cov.astype(dtype), np.sum(X.astype(float) ** 2, 0),
                          lam, tol=1e-10)
    for X_in in (X, np.asfortranarray(X)):  # sparse path (C order) and BLAS path (F order)
        got, _ = nnlasso(W, X_in, lam, tol=1e-10)
        tight = dtype == np.float64
        np.testing.assert_allclose(got, ref, rtol=1e-9 if tight else 2e-3,
                                   atol=1e-10 if tight else 1e-3 * np.abs(ref).max())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_squared_residuals_match_dense_residuals(dtype):
    W, X = _problem(50, 20, 9, seed=22, dtype=dtype)
    coef, _ = nnlasso(W, X, 0.1 * _lam_max(W, X))
    coef[0] = 0.0  # an empty support: ‖x‖²
    W64, X64 = W.astype(np.float64), X.astype(np.float64)
    expected = np.sum((X64 - W64 @ coef.astype(np.float64).T) ** 2, axis=0)
    got = squared_residuals(W.T @ W, X.T @ W, np.sum(X64**2, axis=0), coef)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, expected, rtol=1e-4 if dtype == np.float32 else 1e-10)


def test_gram_entry_point_matches_convenience_wrapper():
    W, X = _problem(30, 10, 7, seed=12)
    lam = 0.1 * _lam_max(W, X)
    a, _ = nnlasso(W, X, lam)
    b, _ = nnlasso_gram(W.T @ W, X.T @ W, np.sum(X**2, axis=0), lam)
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    c, _ = nnlasso_gram(W.T @ W, X.T @ W, np.sum(X**2, axis=0), float(lam[0]))
    d, _ = nnlasso(W, X[:, :1], float(lam[0]))
    np.testing.assert_allclose(c[0], d[0], rtol=1e-12, atol=1e-14)


# ------------------------------------------------------------------------------------------
# error-constrained form
# ------------------------------------------------------------------------------------------
def _feasible_eps(W, X, fraction):
    """eps between the NNLS residual (fraction 0) and ‖x‖² (fraction 1), per target."""
    W, X = np.asarray(W, np.float64), np.asarray(X, np.float64)
    nnls_res = np.array([nnls(W, X[:, t])[1] ** 2 for t in range(X.shape[1])])
    return nnls_res + np.asarray(fraction) * (np.sum(X**2, axis=0) - nnls_res)


def test_constrained_meets_eps_and_matches_reference_l1():
    W, X = _problem(40, 12, 6, seed=14)
    assert np.all(_lam_max(W, X) > 0)  # every target has something to fit
    eps = _feasible_eps(W, X, np.linspace(0.02, 0.8, X.shape[1]))
    coef, lam, feasible = nnlasso_constrained(W, X, eps, tol=1e-12, rtol_search=1e-6)
    assert feasible.all() and np.all(coef >= 0)
    residual = np.sum((X - W @ coef.T) ** 2, axis=0)
    assert np.all(residual <= eps * (1 + 1e-8))
    for t in range(X.shape[1]):
        ref, ref_lam = naive.nnlasso_constrained(W, X[:, t], eps[t])
        assert coef[t].sum() == pytest.approx(ref.sum(), rel=1e-3)
        assert lam[t] == pytest.approx(ref_lam, rel=1e-2)


def test_constrained_matches_slsqp_on_tiny_problem():
    """Reference that does not go through the penalised form: SLSQP on the constrained problem."""
    W, X = _problem(12, 4, 2, seed=14)
    eps = _feasible_eps(W, X, 0.4)
    coef, _, feasible = nnlasso_constrained(W, X, eps, tol=1e-12, rtol_search=1e-6)
    assert feasible.all()
    for t in range(2):
        def slack(u, t=t):
            return (eps[t] - np.sum((X[:, t] - W @ u) ** 2)) / eps[t]

        cons = {"type": "ineq", "fun": slack}
        ref = minimize(np.sum, nnls(W, X[:, t])[0], method="SLSQP", bounds=[(0, None)] * 4,
                       constraints=[cons], options={"ftol": 1e-12, "maxiter": 1000})
        assert ref.success and slack(ref.x) >= -1e-9
        assert coef[t].sum() == pytest.approx(ref.fun, rel=1e-3)


def test_constrained_zero_when_eps_covers_the_signal():
    W, X = _problem(30, 10, 3, seed=15)
    x_sq = np.sum(X**2, axis=0)
    eps = np.array([x_sq[0], 2 * x_sq[1], 0.5 * x_sq[2]])
    coef, lam, feasible = nnlasso_constrained(W, X, eps)
    assert np.all(coef[:2] == 0.0) and feasible.all()
    assert np.all(coef[2] >= 0) and coef[2].sum() > 0
    np.testing.assert_allclose(lam[:2], _lam_max(W, X)[:2])


def test_constrained_flags_infeasible_eps():
    W, X = _problem(40, 6, 4, seed=16)
    nnls_res = np.array([nnls(W, X[:, t])[1] ** 2 for t in range(4)])
    eps = nnls_res * np.array([0.5, 0.9, 2.0, 0.0])
    eps[3] = 0.0
    coef, lam, feasible = nnlasso_constrained(W, X, eps, max_iter=20_000)
    np.testing.assert_array_equal(feasible, [False, False, True, False])
    residual = np.sum((X - W @ coef.T) ** 2, axis=0)
    assert np.all(residual[[0, 1, 3]] >= nnls_res[[0, 1, 3]] * (1 - 1e-9))
    # the flagged answer is the smallest-λ solution: close to the NNLS fit
    np.testing.assert_allclose(residual[[0, 1, 3]], nnls_res[[0, 1, 3]], rtol=1e-3)
    assert np.all(lam[[0, 1, 3]] <= 1e-5 * _lam_max(W, X)[[0, 1, 3]])


def test_constrained_with_all_correlations_negative_is_flagged():
    W, X = _problem(20, 5, 1, seed=17)
    X[:, 0] = -W.sum(axis=1)
    coef, lam, feasible = nnlasso_constrained(W, X, 0.5 * np.sum(X**2))
    assert np.all(coef == 0) and lam[0] == 0.0 and not feasible[0]


def test_constrained_warm_start_gives_same_answer():
    W, X = _problem(50, 20, 15, seed=18)
    eps = _feasible_eps(W, X, 0.2)
    cold, cold_lam, _ = nnlasso_constrained(W, X, eps, tol=1e-12, rtol_search=1e-7)
    near, _, _ = nnlasso_constrained(W, X, 1.05 * eps, tol=1e-12, rtol_search=1e-7)
    warm, warm_lam, feasible = nnlasso_constrained(W, X, eps, init=near, tol=1e-12,
                                                   rtol_search=1e-7)
    assert feasible.all()
    np.testing.assert_allclose(warm.sum(axis=1), cold.sum(axis=1), rtol=1e-4)
    np.testing.assert_allclose(warm_lam, cold_lam, rtol=1e-3)


def test_constrained_float32_meets_eps():
    W, X = _problem(60, 20, 10, seed=19, dtype=np.float32)
    eps = _feasible_eps(W, X, 0.2)
    coef, lam, feasible = nnlasso_constrained(W, X, eps, tol=1e-8)
    assert coef.dtype == np.float32 and feasible.all()
    residual = np.sum((X.astype(float) - W.astype(float) @ coef.T.astype(float)) ** 2, axis=0)
    assert np.all(residual <= eps * (1 + 1e-4))
    assert np.all(residual >= eps * (1 - 1e-2))


def test_constrained_gram_entry_point_scalar_eps():
    W, X = _problem(30, 10, 5, seed=20)
    eps = 0.3 * float(np.min(np.sum(X**2, axis=0)))
    a = nnlasso_constrained(W, X, eps)
    b = nnlasso_constrained_gram(W.T @ W, X.T @ W, np.sum(X**2, axis=0), np.full(5, eps))
    for left, right in zip(a, b):
        np.testing.assert_allclose(left, right, rtol=1e-12, atol=1e-14)
