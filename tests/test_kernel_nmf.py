"""Multiplicative-update NMF kernel against scikit-learn's NMF(solver="mu") and direct formulas."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.decomposition import NMF

from csgene_kernels import nmf
from csgene_kernels.nmf import CHECK_EVERY, nmf_init, nmf_mu
from csgene_kernels.testing import make_sparse_problem
from csgene_kernels.threads import limit_threads

import naive


def _data(n=60, p=45, r=6, seed=0, dtype=np.float64):
    problem = make_sparse_problem(n, p, r, 3, genes_per_module=0.3, noise=0.1, seed=seed)
    return np.maximum(problem.X, 0.0).astype(dtype)


def _sklearn_mu(X, W0, H0, l1_W, l1_H, max_iter, init="custom"):
    """scikit-learn scales the L1 terms by n_features (W) and n_samples (H)."""
    n, p = X.shape
    model = NMF(W0.shape[1], solver="mu", beta_loss="frobenius", init=init, random_state=0,
                max_iter=max_iter, tol=0.0, alpha_W=l1_W / p, alpha_H=l1_H / n, l1_ratio=1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: max_iter reached on purpose
        if init == "custom":
            W = model.fit_transform(X, W=W0.copy(), H=H0.copy())
        else:
            W = model.fit_transform(X)
    return W, model.components_


@pytest.mark.parametrize("l1_W, l1_H", [(0.0, 0.0), (0.5, 0.2)])
def test_matches_sklearn_float64(l1_W, l1_H):
    X = _data(seed=1)
    W0, H0 = nmf_init(X, 6, random_state=3)
    W, H, n_iter, history = nmf_mu(X, W0, H0, l1_W=l1_W, l1_H=l1_H, max_iter=40, tol=0.0)
    W_ref, H_ref = _sklearn_mu(X, W0, H0, l1_W, l1_H, 40)
    assert n_iter == 40
    np.testing.assert_allclose(W, W_ref, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(H, H_ref, rtol=1e-8, atol=1e-12)
    assert history[-1] == pytest.approx(naive.nmf_objective(X, W_ref, H_ref, l1_W, l1_H), rel=1e-10)



@pytest.mark.parametrize("l1_W, l1_H", [(0.0, 0.0), (0.5, 0.2)])
def test_matches_naive_multiplicative_updates(l1_W, l1_H):
    X = _data(seed=5)
    W0, H0 = nmf_init(X, 6, random_state=1)
    W, H, _, history = nmf_mu(X, W0, H0, l1_W=l1_W, l1_H=l1_H, max_iter=25, tol=0.0)
    W_ref, H_ref = naive.nmf_mu(X, W0, H0, l1_W, l1_H, 25)
    np.testing.assert_allclose(W, W_ref, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(H, H_ref, rtol=1e-9, atol=1e-12)
    assert history[-1] == pytest.approx(naive.nmf_objective(X, W_ref, H_ref, l1_W, l1_H), rel=1e-10)
    assert not np.allclose(W, W0)  # it moved


def test_matches_sklearn_float32():
    X = _data(seed=2, dtype=np.float32)
    W0, H0 = nmf_init(X, 6, random_state=4)
    W, H, _, history = nmf_mu(X, W0, H0, l1_W=0.3, l1_H=0.1, max_iter=40, tol=0.0)
    W_ref, H_ref = _sklearn_mu(X, W0, H0, 0.3, 0.1, 40)
    assert W.dtype == np.float32 and H.dtype == np.float32 and W_ref.dtype == np.float32
    ours = naive.nmf_objective(X, W, H, 0.3, 0.1)
    assert ours == pytest.approx(naive.nmf_objective(X, W_ref, H_ref, 0.3, 0.1), rel=1e-4)
    assert history[-1] == pytest.approx(ours, rel=1e-4)


def test_init_draws_like_sklearn_random_init():
    X = _data(seed=5)
    W0, H0 = nmf_init(X, 4, random_state=0)
    assert W0.shape == (60, 4) and H0.shape == (4, 45)
    assert np.all(W0 >= 0) and np.all(H0 >= 0)
    W, H, _, _ = nmf_mu(X, W0, H0, max_iter=15, tol=0.0)
    W_ref, H_ref = _sklearn_mu(X, W0, H0, 0.0, 0.0, 15, init="random")
    np.testing.assert_allclose(W, W_ref, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(H, H_ref, rtol=1e-8, atol=1e-12)
    again = nmf_init(X, 4, random_state=0)
    np.testing.assert_array_equal(again[0], W0)
    assert nmf_init(X.astype(np.float32), 4)[0].dtype == np.float32
    assert not np.array_equal(nmf_init(X, 4, random_state=1)[0], W0)


@pytest.mark.parametrize("dtype, rel", [(np.float64, 1e-10), (np.float32, 1e-4)])
def test_objective_history_is_monotone_and_exact(dtype, rel):
    X = _data(80, 50, 8, seed=6, dtype=dtype)
    W0, H0 = nmf_init(X, 8, random_state=0)
    W, H, n_iter, history = nmf_mu(X, W0, H0, l1_W=0.2, l1_H=0.4, max_iter=35, tol=0.0)
    assert n_iter == 35
    assert len(history) == 1 + 35 // CHECK_EVERY + 1  # start, checks, and the last iteration
    assert np.all(np.diff(history) <= 1e-12 * history[0] + (0 if dtype == np.float64 else
                                                            1e-5 * history[0]))
    assert history[0] == pytest.approx(naive.nmf_objective(X, W0, H0, 0.2, 0.4), rel=rel)
    assert history[-1] == pytest.approx(naive.nmf_objective(X, W, H, 0.2, 0.4), rel=rel)
    assert np.all(W >= 0) and np.all(H >= 0)


def test_inputs_are_not_modified():
    X = _data(seed=7)
    W0, H0 = nmf_init(X, 5)
    copies = (X.copy(), W0.copy(), H0.copy())
    W, H, _, _ = nmf_mu(X, W0, H0, max_iter=5)
    for before, after in zip(copies, (X, W0, H0)):
        np.testing.assert_array_equal(before, after)
    assert not np.shares_memory(W, W0) and not np.shares_memory(H, H0)


def test_tol_stops_at_a_check_when_progress_is_small():
    X = _data(seed=8)
    W0, H0 = nmf_init(X, 6)
    tol = 1e-3
    W, H, n_iter, history = nmf_mu(X, W0, H0, max_iter=2000, tol=tol)
    assert n_iter < 2000 and n_iter % CHECK_EVERY == 0
    decrease = -np.diff(history) / history[:-1]
    assert decrease[-1] < tol and np.all(decrease[:-1] >= tol)
    # same iterates as a fixed-iteration run of that length
    W_fixed, H_fixed, _, _ = nmf_mu(X, W0, H0, max_iter=n_iter, tol=0.0)
    np.testing.assert_array_equal(W, W_fixed)
    np.testing.assert_array_equal(H, H_fixed)


def test_zero_rows_columns_and_heavy_penalty_stay_finite():
    X = _data(seed=9)
    X[3] = 0.0
    X[:, 7] = 0.0
    W0, H0 = nmf_init(X, 6)
    W, H, _, history = nmf_mu(X, W0, H0, max_iter=60, tol=0.0)
    assert np.all(np.isfinite(W)) and np.all(np.isfinite(H)) and np.all(np.isfinite(history))
    assert np.abs(W[3]).max() < 1e-3 * np.abs(W).max()
    assert np.abs(H[:, 7]).max() < 1e-3 * np.abs(H).max()
    W, H, _, history = nmf_mu(X, W0, H0, l1_W=1e6, l1_H=1e6, max_iter=20, tol=0.0)
    assert np.all(np.isfinite(W)) and W.max() < 1e-6 and H.max() < 1e-6
    assert history[-1] == pytest.approx(0.5 * np.sum(X**2), rel=1e-3)


def test_zero_iterations_returns_copies_and_initial_objective():
    X = _data(seed=10)
    W0, H0 = nmf_init(X, 3)
    W, H, n_iter, history = nmf_mu(X, W0, H0, l1_W=0.1, max_iter=0)
    assert n_iter == 0 and len(history) == 1
    np.testing.assert_array_equal(W, W0)
    assert history[0] == pytest.approx(naive.nmf_objective(X, W0, H0, 0.1, 0.0), rel=1e-10)


def test_f_order_and_integer_input():
    X = _data(seed=11)
    W0, H0 = nmf_init(X, 4)
    ref = nmf_mu(X, W0, H0, max_iter=12, tol=0.0)
    got = nmf_mu(np.asfortranarray(X), np.asfortranarray(W0), np.asfortranarray(H0),
                 max_iter=12, tol=0.0)
    np.testing.assert_allclose(got[0], ref[0], rtol=1e-12)
    counts = np.round(10 * X).astype(np.int64)
    W, H, _, _ = nmf_mu(counts, W0, H0, max_iter=3)
    assert W.dtype == np.float64


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_identical_with_one_and_two_numba_threads(dtype, monkeypatch):
    """prange kernel (forced) with 1 and 2 threads: same bits; the serial build agrees (its
    float64 row sums may be vectorised differently, so the history to rounding)."""
    X = _data(120, 70, 8, seed=12, dtype=dtype)
    W0, H0 = nmf_init(X, 8)
    runs = []
    for threshold, threads in [(nmf.PARALLEL_MIN_ELEMENTS, 2), (0, 1), (0, 2)]:
        monkeypatch.setattr(nmf, "PARALLEL_MIN_ELEMENTS", threshold)
        with limit_threads(numba_threads=threads, blas_threads=1):
            runs.append(nmf_mu(X, W0, H0, l1_W=0.1, max_iter=30, tol=0.0))
    for a, b in zip(runs[1], runs[2]):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(runs[0][:3], runs[1][:3]):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(runs[0][3], runs[1][3], rtol=1e-12)
