"""Baselines: mean profile, supervised ridge, Gaussian-prior posterior mean."""

import numpy as np
import pytest
from sklearn.linear_model import Ridge

from csgene.baselines import GaussianPrior, MeanProfile, RidgeDecoder
from csgene.exceptions import InputError
from csgene.measure import measure


def _low_rank(n=300, g=80, rank=5, seed=0, noise=0.05):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, rank)) @ rng.standard_normal((rank, g)) + 3.0
    return X + noise * rng.standard_normal(X.shape)


def _mse(a, b):
    return float(np.mean((a - b) ** 2))


def test_mean_profile_predicts_training_mean():
    X = _low_rank()
    A = np.random.default_rng(1).standard_normal((10, X.shape[1]))
    m = MeanProfile().fit(X[:200]).fit_design(A)
    out = m.recover(X[200:] @ A.T)
    np.testing.assert_allclose(out, np.tile(X[:200].mean(0), (100, 1)))


def test_ridge_matches_sklearn_ridge_at_chosen_alpha_and_beats_mean():
    X = _low_rank(seed=2)
    A = np.random.default_rng(3).standard_normal((20, X.shape[1]))
    model = RidgeDecoder(n_noise_draws=1, random_state=0).fit(X[:200]).fit_design(A, snr=5.0, random_state=4)
    assert not model.alpha_at_edge_
    Y_train = measure(X[:200], A, snr=5.0, random_state=np.random.default_rng(4))
    ref = Ridge(alpha=model.alpha_).fit(Y_train, X[:200])
    Y_test = measure(X[200:], A, snr=5.0, random_state=5)
    np.testing.assert_allclose(model.recover(Y_test), ref.predict(Y_test), rtol=1e-6, atol=1e-8)
    assert _mse(model.recover(Y_test), X[200:]) < 0.2 * _mse(X[:200].mean(0), X[200:])


def test_ridge_grid_is_extended_until_choice_is_interior():
    X = _low_rank(seed=6)
    A = np.random.default_rng(7).standard_normal((30, X.shape[1]))
    # a grid far too small: the search must move right until the optimum is inside
    model = RidgeDecoder(alphas=np.logspace(-12, -10, 3), max_extensions=10, random_state=0)
    model.fit(X[:200]).fit_design(A, snr=1.0)
    assert not model.alpha_at_edge_


def test_gaussian_posterior_mean_matches_dense_formula():
    X = _low_rank(n=200, g=25, seed=8)
    A = np.random.default_rng(9).standard_normal((6, X.shape[1]))
    prior = GaussianPrior(n_factors=5).fit(X).fit_design(A, snr=3.0)
    Sigma = prior.factors_.T @ prior.factors_ + np.diag(prior.noise_variance_)
    sigma2 = np.mean(X**2) / 9.0
    K = A @ Sigma @ A.T + sigma2 * A @ A.T
    Y = np.random.default_rng(10).standard_normal((4, 6))
    expected = prior.mean_ + (Y - A @ prior.mean_) @ np.linalg.solve(K, A @ Sigma)
    np.testing.assert_allclose(prior.recover(Y), expected, rtol=1e-6, atol=1e-8)


def test_gaussian_prior_recovers_low_rank_profiles_and_beats_mean():
    X = _low_rank(seed=11)
    A = np.random.default_rng(12).standard_normal((15, X.shape[1]))
    prior = GaussianPrior(random_state=0).fit(X[:200]).fit_design(A, snr=10.0)
    Y = measure(X[200:], A, snr=10.0, random_state=13)
    X_hat = prior.recover(Y)
    assert _mse(X_hat, X[200:]) < 0.1 * _mse(X[:200].mean(0), X[200:])
    assert prior.n_factors_ == 5  # the data are rank 5 plus small noise


def test_design_and_measurement_width_are_checked():
    X = _low_rank()
    for method in (MeanProfile(), RidgeDecoder(), GaussianPrior(n_factors=3)):
        method.fit(X)
        with pytest.raises(InputError, match="genes"):
            method.fit_design(np.ones((5, X.shape[1] + 1)))
        method.fit_design(np.random.default_rng(0).standard_normal((5, X.shape[1])))
        with pytest.raises(InputError, match="measurements"):
            method.recover(np.ones((2, 6)))


def test_gaussian_rank_choice_agrees_with_sklearn_ppca_likelihood():
    from sklearn.decomposition import PCA

    X = _low_rank(n=300, g=60, rank=10, seed=14, noise=0.3)
    prior = GaussianPrior(random_state=0)
    chosen = prior._choose_rank(X)
    order = np.random.RandomState(0).permutation(300)
    held, kept = X[order[:60]], X[order[60:]]
    scores = {q: PCA(n_components=q, svd_solver="full").fit(kept).score(held) for q in (5, 10, 20, 40, 80) if q < 60}
    assert chosen == max(scores, key=scores.get)
