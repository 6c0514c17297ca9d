"""Batched OMP kernel against scikit-learn's ``orthogonal_mp_gram`` and a naive least-squares OMP."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.linear_model import orthogonal_mp_gram

from csgene_kernels.omp import SAMPLES_PER_BLOCK, code_residuals, codes_to_dense, omp, omp_direct, omp_gram
from csgene_kernels.testing import make_sparse_problem
from csgene_kernels.threads import limit_threads

import naive


# ----------------------------------------------------------------------------- references
def sklearn_codes(D, Y, k, tol=None):
    """Dense (n, m) codes from scikit-learn's Gram OMP, premature-stop warnings silenced."""
    gram = D.T @ D
    dty = Y @ D
    norms = np.einsum("ij,ij->i", Y, Y) if tol is not None else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        coef = orthogonal_mp_gram(gram, dty.T, n_nonzero_coefs=None if tol is not None else k,
                                  tol=tol, norms_squared=norms)
    return np.atleast_2d(coef.T).reshape(Y.shape[0], D.shape[1])


def gaussian_dictionary(rng, d, m, dtype=np.float64):
    D = rng.standard_normal((d, m))
    return (D / np.linalg.norm(D, axis=0)).astype(dtype)


def recovery_problem(n, d=60, g=400, m=120, k=8, dtype=np.float64, seed=0):
    """Recovery setting: D = A Uᵀ with A Gaussian, Y = X Aᵀ."""
    problem = make_sparse_problem(n, g, m, k, dtype=np.float64, seed=seed)
    A = np.random.default_rng(seed + 1).standard_normal((d, g)) / np.sqrt(d)
    D = A @ problem.U.T
    Y = problem.X @ A.T
    return D.astype(dtype), Y.astype(dtype)


def gaussian_problem(n, d=50, m=150, k=6, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    D = gaussian_dictionary(rng, d, m)
    W = np.zeros((n, m))
    for i in range(n):
        W[i, rng.choice(m, k, replace=False)] = rng.standard_normal(k)
    Y = W @ D.T + 0.05 * rng.standard_normal((n, d))
    return D.astype(dtype), Y.astype(dtype)


def supports(indices):
    return [frozenset(row[row >= 0].tolist()) for row in indices]


# ----------------------------------------------------------------------------- agreement
@pytest.mark.parametrize("make", [recovery_problem, gaussian_problem])
def test_matches_sklearn_float64(make):
    D, Y = make(400, seed=3)
    k = 10
    indices, values = omp_gram(D.T @ D, Y @ D, k)
    reference = sklearn_codes(D, Y, k)
    same = np.array([s == frozenset(np.flatnonzero(r)) for s, r in zip(supports(indices), reference)])
    assert same.mean() >= 0.99
    dense = codes_to_dense(indices, values, D.shape[1])
    np.testing.assert_allclose(dense[same], reference[same], rtol=1e-7, atol=1e-9)


def test_matches_naive_order_and_coefficients():
    D, Y = gaussian_problem(40, d=30, m=80, k=5, seed=7)
    indices, values = omp(D, Y, 7)
    for i in range(Y.shape[0]):
        atoms, coefs = naive.omp(D, Y[i], 7)
        np.testing.assert_array_equal(indices[i, : len(atoms)], atoms)
        np.testing.assert_allclose(values[i, : len(atoms)], coefs, rtol=1e-8, atol=1e-10)


def test_matches_sklearn_float32():
    D, Y = recovery_problem(300, dtype=np.float64, seed=5)
    k = 8
    indices, values = omp(D.astype(np.float32), Y.astype(np.float32), k)
    assert indices.dtype == np.int64 and values.dtype == np.float32
    reference = sklearn_codes(D, Y, k)
    same = np.array([s == frozenset(np.flatnonzero(r)) for s, r in zip(supports(indices), reference)])
    assert same.mean() >= 0.97
    dense = codes_to_dense(indices, values, D.shape[1]).astype(np.float64)
    scale = np.abs(reference[same]).max()
    np.testing.assert_allclose(dense[same], reference[same], atol=2e-3 * scale)


def test_omp_and_omp_direct_agree_with_gram_form():
    problem = make_sparse_problem(150, 300, 60, 5, seed=11)
    U, X = problem.U, problem.X
    ref_idx, ref_val = omp_gram(U @ U.T, X @ U.T, 7)
    idx_direct, val_direct = omp_direct(U, X, 7)
    idx_cols, val_cols = omp(U.T, X, 7)
    for idx, val in ((idx_direct, val_direct), (idx_cols, val_cols)):
        np.testing.assert_array_equal(idx, ref_idx)
        np.testing.assert_allclose(val, ref_val, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_tol_stopping_matches_sklearn(dtype):
    D, Y = gaussian_problem(200, d=40, m=70, k=6, seed=13)
    m = D.shape[1]
    tol = 0.05 * float(np.median(np.einsum("ij,ij->i", Y, Y)))
    indices, values = omp(D.astype(dtype), Y.astype(dtype), m, tol=tol)
    reference = sklearn_codes(D, Y, m, tol=tol)
    counts = (indices >= 0).sum(axis=1)
    ref_counts = (reference != 0).sum(axis=1)
    assert np.mean(counts == ref_counts) >= 0.99
    residuals = np.linalg.norm(Y - codes_to_dense(indices, values, m) @ D.T, axis=1) ** 2
    assert np.all(residuals <= tol * (1 + 1e-3) + 1e-4 * (dtype == np.float32))
    # One atom fewer would not have been enough: the stop is the first one that reaches tol.
    for i in np.flatnonzero(counts > 1)[:20]:
        atoms = indices[i, : counts[i] - 1]
        coefs = np.linalg.lstsq(D[:, atoms], Y[i], rcond=None)[0]
        assert np.sum((Y[i] - D[:, atoms] @ coefs) ** 2) > tol


def test_tol_stops_k_first_and_signal_within_tol_gets_no_atoms():
    D, Y = gaussian_problem(30, d=40, m=70, k=6, seed=17)
    norms = np.einsum("ij,ij->i", Y, Y)
    idx_k, _ = omp(D, Y, 2, tol=1e-12)
    assert np.all((idx_k >= 0).sum(axis=1) == 2)
    idx_none, val_none = omp_gram(D.T @ D, Y @ D, 5, tol=float(norms.max()) * 1.01, y_sq_norms=norms)
    assert np.all(idx_none == -1) and np.all(val_none == 0)


def test_tol_needs_norms():
    D, Y = gaussian_problem(3, seed=1)
    with pytest.raises(ValueError, match="y_sq_norms"):
        omp_gram(D.T @ D, Y @ D, 3, tol=0.1)


# ----------------------------------------------------------------------------- edge cases
def test_k_larger_than_number_of_atoms():
    rng = np.random.default_rng(19)
    D = gaussian_dictionary(rng, 20, 8)
    Y = rng.standard_normal((25, 20))
    indices, values = omp(D, Y, 12)
    assert indices.shape == (25, 12)
    assert np.all(indices[:, 8:] == -1) and np.all(values[:, 8:] == 0)
    reference = sklearn_codes(D, Y, 8)
    np.testing.assert_allclose(codes_to_dense(indices, values, 8), reference, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_k_larger_than_rank_duplicated_atoms(dtype):
    rng = np.random.default_rng(23)
    base = gaussian_dictionary(rng, 10, 15)
    D = np.hstack([base, base, base[:, :5] + base[:, 5:10]])  # rank 10, exact duplicates
    D /= np.linalg.norm(D, axis=0)
    Y = rng.standard_normal((50, 10))
    indices, values = omp(D.astype(dtype), Y.astype(dtype), 25)
    assert np.all(np.isfinite(values))
    counts = (indices >= 0).sum(axis=1)
    assert np.all(counts <= 10)
    for row in indices:
        copies = row[(row >= 0) & (row < 30)] % 15
        assert len(set(copies.tolist())) == len(copies)  # never both copies of an atom
    fit = codes_to_dense(indices, values, D.shape[1]) @ D.T
    tolerance = 1e-8 if dtype == np.float64 else 2e-2
    assert np.max(np.abs(fit - Y)) < tolerance * np.abs(Y).max()


def test_zero_columns_never_selected():
    rng = np.random.default_rng(29)
    D = gaussian_dictionary(rng, 15, 30)
    zero = [0, 7, 29]
    D[:, zero] = 0.0
    Y = rng.standard_normal((40, 15))
    indices, values = omp(D, Y, 40)
    assert not np.isin(indices, zero).any()
    assert np.all(np.isfinite(values))
    keep = np.setdiff1d(np.arange(30), zero)
    reference = sklearn_codes(D[:, keep], Y, 15)
    np.testing.assert_allclose(codes_to_dense(indices, values, 30)[:, keep], reference,
                               rtol=1e-7, atol=1e-9)


def test_all_zero_dictionary_and_zero_signals():
    D = np.zeros((5, 4))
    Y = np.ones((3, 5))
    indices, values = omp(D, Y, 3)
    assert np.all(indices == -1) and np.all(values == 0)
    rng = np.random.default_rng(31)
    D = gaussian_dictionary(rng, 12, 20)
    indices, values = omp(D, np.zeros((4, 12)), 5)
    assert np.all(indices == -1) and np.all(values == 0)


def test_ties_pick_lowest_index():
    D = np.eye(6)
    Y = np.array([[0.0, 2.0, 0.0, 2.0, 1.0, 0.0], [3.0, 3.0, 3.0, 3.0, 3.0, 3.0]])
    indices, values = omp(D, Y, 6)
    np.testing.assert_array_equal(indices[0], [1, 3, 4, -1, -1, -1])
    np.testing.assert_array_equal(indices[1], [0, 1, 2, 3, 4, 5])
    np.testing.assert_allclose(values[0, :3], [2.0, 2.0, 1.0])
    # Exact duplicate atoms: the first copy wins, the second is dependent and skipped.
    rng = np.random.default_rng(37)
    base = gaussian_dictionary(rng, 8, 4)
    D = np.hstack([base[:, :2], base[:, :1], base[:, 2:]])  # atom 2 duplicates atom 0
    indices, _ = omp(D, base[:, 0][None, :] * 3.0, 3)
    assert indices[0, 0] == 0 and 2 not in indices[0]


@pytest.mark.parametrize("order", ["C", "F"])
def test_memory_layouts(order):
    D, Y = gaussian_problem(60, seed=41)
    ref = omp(D, Y, 6)
    U = np.asarray(D.T, order=order)
    X = np.asarray(Y, order=order)
    for got in (omp(np.asarray(D, order=order), X, 6), omp_direct(U, X, 6),
                omp_gram(np.asarray(D.T @ D, order=order), np.asarray(Y @ D, order=order), 6)):
        np.testing.assert_array_equal(got[0], ref[0])
        np.testing.assert_allclose(got[1], ref[1], rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_one_and_two_threads_bit_identical(dtype):
    D, Y = recovery_problem(3 * SAMPLES_PER_BLOCK + 17, seed=43, dtype=dtype)
    gram, dty = D.T @ D, Y @ D
    with limit_threads(numba_threads=1):
        one = omp_gram(gram, dty, 9)
    with limit_threads(numba_threads=2):
        two = omp_gram(gram, dty, 9)
    np.testing.assert_array_equal(one[0], two[0])
    np.testing.assert_array_equal(one[1], two[1])
    # A sample's result does not depend on which block it lands in.
    shifted = omp_gram(gram, dty[5:], 9)
    np.testing.assert_array_equal(shifted[0], one[0][5:])
    np.testing.assert_array_equal(shifted[1], one[1][5:])


def test_codes_to_dense_matches_loop():
    rng = np.random.default_rng(47)
    indices = rng.integers(-1, 9, size=(20, 5))
    values = rng.standard_normal((20, 5))
    expected = np.zeros((20, 9))
    for i in range(20):
        for j in range(5):
            if indices[i, j] >= 0:
                expected[i, indices[i, j]] += values[i, j]
    np.testing.assert_allclose(codes_to_dense(indices, values, 9), expected, rtol=1e-14)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_dependent_atoms_skipped_at_large_signal_scale(dtype):
    # At 1e8 scale the rounding noise in alpha exceeds scikit-learn's alpha² < eps stop, so only
    # the pivot test keeps atoms dependent on the chosen ones (rank 10) out.
    rng = np.random.default_rng(53)
    base = gaussian_dictionary(rng, 10, 15)
    D = np.hstack([base, base[:, :5] + base[:, 5:10]])
    D /= np.linalg.norm(D, axis=0)
    Y = 1e8 * rng.standard_normal((50, 10))
    indices, values = omp(D.astype(dtype), Y.astype(dtype), 20)
    assert np.all((indices >= 0).sum(axis=1) <= 10)
    assert np.all(np.isfinite(values))
    fit = codes_to_dense(indices, values, D.shape[1]) @ D.T
    assert np.max(np.abs(fit - Y)) < (1e-6 if dtype == np.float64 else 1e-2) * np.abs(Y).max()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_code_residuals_match_dense_residuals(dtype):
    """Gram-quantity residuals of sparse codes (unused slots, a repeated atom) equal ‖Y − W U‖²."""
    rng = np.random.default_rng(21)
    U = rng.standard_normal((12, 40)).astype(dtype)
    Y = rng.standard_normal((30, 40)).astype(dtype)
    indices = rng.integers(0, 12, size=(30, 4))
    indices[::3, 3] = -1
    indices[1, 2] = indices[1, 0]  # a repeated atom is summed, as in codes_to_dense
    values = rng.standard_normal((30, 4)).astype(dtype)
    U64, Y64 = U.astype(np.float64), Y.astype(np.float64)
    dense = codes_to_dense(indices, values, 12).astype(np.float64)
    expected = np.sum((Y64 - dense @ U64) ** 2, axis=1)
    got = code_residuals(U @ U.T, Y @ U.T, np.sum(Y64**2, axis=1), indices, values)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, expected, rtol=1e-4 if dtype == np.float32 else 1e-10)
