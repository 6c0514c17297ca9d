"""Decoders against scikit-learn and numpy references."""

import numpy as np
import pytest
from sklearn.linear_model import Lasso, orthogonal_mp

from csgene.exceptions import InputError
from csgene.recovery import SparseDecoder, ridge_refit
from csgene_kernels.testing import make_sparse_problem


def _problem(seed=0, n=40, g=120, m=30, k=4, d=60, noise=0.0, dtype=np.float64):
    p = make_sparse_problem(n, g, m, k, noise=noise, seed=seed, dtype=dtype)
    A = np.random.default_rng(seed + 100).standard_normal((d, g)).astype(dtype)
    return p, A


def test_omp_decoder_matches_sklearn_on_normalized_effective_dictionary():
    p, A = _problem(seed=1, noise=0.05)
    Y = p.X @ A.T
    dec = SparseDecoder("omp", sparsity=4).fit(A, p.U)
    indices, values = dec.decode(Y)
    D = A @ p.U.T
    norms = np.linalg.norm(D, axis=0)
    ref = orthogonal_mp(D / norms, Y.T, n_nonzero_coefs=4).T / norms
    dense = np.zeros_like(ref)
    rows = np.repeat(np.arange(Y.shape[0]), 4)
    dense[rows, indices.ravel()] = values.ravel()
    np.testing.assert_allclose(dense, ref, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(dec.recover(Y), ref @ p.U, rtol=1e-6, atol=1e-8)


def test_omp_decoder_recovers_exact_sparse_codes_without_noise():
    p, A = _problem(seed=2, d=80)
    Y = p.X @ A.T
    X_hat = SparseDecoder("omp", sparsity=4).fit(A, p.U).recover(Y)
    np.testing.assert_allclose(X_hat, p.X, atol=1e-8)


def test_mean_aware_decoding_subtracts_and_adds_the_mean():
    p, A = _problem(seed=3, d=80)
    mean = np.random.default_rng(0).gamma(2.0, 1.0, size=p.X.shape[1])
    Y = (p.X + mean) @ A.T
    X_hat = SparseDecoder("omp", sparsity=4).fit(A, p.U, mean=mean).recover(Y)
    np.testing.assert_allclose(X_hat, p.X + mean, atol=1e-8)


def test_lstsq_decoder_equals_pseudo_inverse_solution():
    p, A = _problem(seed=4, m=20, d=50)
    Y = p.X @ A.T + 0.01
    D = A @ p.U.T
    expected = Y @ np.linalg.pinv(D).T @ p.U
    np.testing.assert_allclose(SparseDecoder("lstsq").fit(A, p.U).recover(Y), expected, rtol=1e-8, atol=1e-10)


def test_nonnegative_lasso_decoder_matches_sklearn():
    p, A = _problem(seed=5, noise=0.05, n=10)
    Y = p.X @ A.T
    dec = SparseDecoder("nnlasso", alpha=0.05, tol=1e-12, max_iter=5000).fit(A, p.U)
    coef = dec.decode(Y)
    D = dec.normalized_
    for i in range(Y.shape[0]):
        lam = 0.05 * max((D.T @ Y[i]).max(), 0)
        ref = Lasso(alpha=lam / D.shape[0], positive=True, fit_intercept=False, tol=1e-12, max_iter=100000)
        ref.fit(D, Y[i])
        np.testing.assert_allclose(coef[i] * dec.atom_norms_, ref.coef_, rtol=1e-4, atol=1e-6)


def test_signed_lasso_decoder_matches_sklearn():
    p, A = _problem(seed=6, noise=0.05, n=8)
    Y = p.X @ A.T - 0.3 * (p.X @ A.T).mean()
    dec = SparseDecoder("lasso", alpha=0.05, tol=1e-12, max_iter=5000).fit(A, p.U)
    coef = dec.decode(Y)
    D = dec.normalized_
    for i in range(Y.shape[0]):
        lam = 0.05 * np.abs(D.T @ Y[i]).max()
        ref = Lasso(alpha=lam / D.shape[0], fit_intercept=False, tol=1e-12, max_iter=100000).fit(D, Y[i])
        np.testing.assert_allclose(coef[i] * dec.atom_norms_, ref.coef_, rtol=1e-4, atol=1e-6)


def test_ridge_refit_equals_per_sample_solve():
    rng = np.random.default_rng(7)
    D = rng.standard_normal((30, 12))
    G = D.T @ D
    Y = rng.standard_normal((5, 30))
    dty = Y @ D
    indices = np.array([[0, 3, 5, -1], [2, -1, -1, -1], [1, 4, 7, 9], [-1, -1, -1, -1], [11, 10, 0, 6]])
    values = ridge_refit(G, dty, indices, 0.1)
    for i in range(5):
        S = indices[i][indices[i] >= 0]
        if S.size == 0:
            assert np.all(values[i] == 0)
            continue
        GS = G[np.ix_(S, S)]
        rho = 0.1 * np.trace(GS) / S.size
        expected = np.linalg.solve(GS + rho * np.eye(S.size), dty[i, S])
        np.testing.assert_allclose(values[i, : S.size], expected, rtol=1e-10)
        assert np.all(values[i, S.size:] == 0)


def test_zero_measured_atoms_do_not_produce_nan():
    p, A = _problem(seed=8)
    U = p.U.copy()
    U[3] = 0.0  # an atom that measures to zero
    Y = p.X @ A.T
    for method in ("omp", "nnlasso", "lstsq"):
        X_hat = SparseDecoder(method, sparsity=4).fit(A, U).recover(Y)
        assert np.isfinite(X_hat).all(), method


def test_float32_is_kept():
    p, A = _problem(seed=9, dtype=np.float32)
    X_hat = SparseDecoder("omp", sparsity=4).fit(A, p.U).recover(p.X @ A.T)
    assert X_hat.dtype == np.float32
    np.testing.assert_allclose(X_hat, p.X, atol=1e-3)


def test_bad_input_errors():
    p, A = _problem(seed=10)
    with pytest.raises(InputError, match="sparsity"):
        SparseDecoder("omp", sparsity=p.U.shape[0] + 1).fit(A, p.U)
    with pytest.raises(InputError, match="genes"):
        SparseDecoder().fit(A[:, :-1], p.U)
    dec = SparseDecoder("omp", sparsity=4).fit(A, p.U)
    with pytest.raises(InputError, match="measurements per sample"):
        dec.recover(np.ones((3, A.shape[0] + 1)))
    with pytest.raises(InputError, match="NaN"):
        dec.recover(np.full((3, A.shape[0]), np.nan))
    with pytest.raises(InputError, match="unknown decoder"):
        SparseDecoder("magic").fit(A, p.U)


def test_noise_aware_omp_stops_at_the_noise_floor_and_shrinks_toward_zero():
    p, A = _problem(seed=11, noise=0.0, d=60)
    rng = np.random.default_rng(0)
    sigma2 = 0.05 * np.mean(p.X**2)
    Y = (p.X + np.sqrt(sigma2) * rng.standard_normal(p.X.shape)) @ A.T
    plain = SparseDecoder("omp", sparsity=10).fit(A, p.U)
    aware = SparseDecoder("omp", sparsity=10, noise_variance=sigma2).fit(A, p.U)
    idx_plain, _ = plain.decode(Y)
    idx_aware, _ = aware.decode(Y)
    assert (idx_aware >= 0).sum() < (idx_plain >= 0).sum()  # fewer atoms: noise is not fitted
    residual = Y - aware.recover(Y) @ A.T
    # each sample stopped at the first atom count whose residual is below σ²‖A‖²_F
    assert np.all(np.einsum("ij,ij->i", residual, residual) <= aware.residual_tol_ * (1 + 1e-9))
    tau2 = np.full(p.U.shape[0], np.mean(p.W[p.W != 0] ** 2))
    shrunk = SparseDecoder("omp", sparsity=10, noise_variance=sigma2, activity_variance=tau2).fit(A, p.U)
    idx_s, val_s = shrunk.decode(Y)
    np.testing.assert_array_equal(idx_s, idx_aware)
    _, val_aware = aware.decode(Y)
    assert np.abs(val_s).sum() < np.abs(val_aware).sum()
    # the shrunk estimate is the posterior mean: per-sample check against the normal equations
    D = A @ p.U.T
    for i in range(5):
        S = idx_s[i][idx_s[i] >= 0]
        noise_y = sigma2 * np.sum(A**2) / A.shape[0]
        lhs = D[:, S].T @ D[:, S] + np.diag(noise_y / tau2[S])
        np.testing.assert_allclose(val_s[i, : S.size], np.linalg.solve(lhs, D[:, S].T @ Y[i]), rtol=1e-8)
