"""Tests of the synthetic expression generator against its stated model, recomputed with numpy."""

from __future__ import annotations

import numpy as np
import pytest

from csgene.datasets import SyntheticExpression, make_expression
from csgene.exceptions import InputError

SMALL = dict(n_samples=400, n_genes=300, n_modules=20)


def _cpm(counts: np.ndarray) -> np.ndarray:
    totals = counts.sum(axis=1, keepdims=True)
    return counts / np.where(totals > 0, totals, 1.0) * 1e6


def _mean_profile_pearson(counts: np.ndarray) -> float:
    """Average Pearson correlation of each sample (CPM) with the mean CPM profile."""
    cpm = _cpm(counts)
    profile = cpm.mean(axis=0)
    return float(np.mean([np.corrcoef(sample, profile)[0, 1] for sample in cpm]))


@pytest.fixture(scope="module")
def default_data() -> SyntheticExpression:
    return make_expression(random_state=0)


def test_same_seed_same_data_and_different_seed_different_data():
    a = make_expression(**SMALL, random_state=7)
    b = make_expression(**SMALL, random_state=7)
    c = make_expression(**SMALL, random_state=8)
    for field in ("counts", "mean", "modules", "activities", "profile", "library_size"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    assert not np.array_equal(a.counts, c.counts)
    assert not np.array_equal(a.modules, c.modules)


def test_generator_and_randomstate_seeds_are_reproducible():
    a = make_expression(**SMALL, random_state=np.random.default_rng(3))
    b = make_expression(**SMALL, random_state=np.random.default_rng(3))
    np.testing.assert_array_equal(a.counts, b.counts)
    c = make_expression(**SMALL, random_state=np.random.RandomState(3))
    d = make_expression(**SMALL, random_state=np.random.RandomState(3))
    np.testing.assert_array_equal(c.counts, d.counts)


def test_shapes_names_and_types():
    data = make_expression(50, 70, 6, modules_per_sample=2, random_state=1)
    assert data.counts.shape == data.mean.shape == (50, 70)
    assert data.modules.shape == (6, 70)
    assert data.activities.shape == (50, 6)
    assert data.profile.shape == (70,)
    assert data.library_size.shape == (50,)
    assert data.counts.dtype == np.float64
    assert len(data.gene_names) == len(set(data.gene_names)) == 70
    assert len(data.sample_names) == len(set(data.sample_names)) == 50
    assert all(isinstance(name, str) for name in data.gene_names + data.sample_names)


def test_counts_are_nonnegative_integers_and_factors_nonnegative():
    data = make_expression(**SMALL, random_state=2)
    assert data.counts.min() >= 0
    np.testing.assert_array_equal(data.counts, np.round(data.counts))
    for array in (data.mean, data.modules, data.activities, data.profile, data.library_size):
        assert array.min() >= 0
    assert data.profile.min() > 0 and data.library_size.min() > 0


@pytest.mark.parametrize("genes_per_module, modules_per_sample", [(1, 1), (15, 3), (300, 20)])
def test_sparsity_matches_parameters(genes_per_module, modules_per_sample):
    data = make_expression(
        **SMALL, genes_per_module=genes_per_module, modules_per_sample=modules_per_sample, random_state=3
    )
    np.testing.assert_array_equal((data.modules > 0).sum(axis=1), genes_per_module)
    np.testing.assert_array_equal((data.activities > 0).sum(axis=1), modules_per_sample)


def test_default_genes_per_module_is_five_percent():
    data = make_expression(**SMALL, random_state=4)
    np.testing.assert_array_equal((data.modules > 0).sum(axis=1), 15)


def test_mean_follows_the_stated_model():
    data = make_expression(**SMALL, baseline=0.3, random_state=5)
    np.testing.assert_allclose(data.modules.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(data.activities.sum(axis=1), 0.7, rtol=1e-12)
    np.testing.assert_allclose(data.profile.sum(), 1.0, rtol=1e-12)
    expected = data.library_size[:, None] * (0.3 * data.profile + data.activities @ data.modules)
    np.testing.assert_allclose(data.mean, expected, rtol=1e-12)
    np.testing.assert_allclose(data.proportions.sum(axis=1), 1.0, rtol=1e-12)


def test_module_weights_are_heavy_tailed():
    data = make_expression(**SMALL, genes_per_module=60, random_state=6)
    weights = data.modules[data.modules > 0]
    # Heavy tail: the largest weights are far above the median (a Gaussian would give ~3x).
    assert np.quantile(weights, 0.99) > 20 * np.median(weights)


@pytest.mark.parametrize("dispersion", [0.05, 0.2, 1.0])
def test_negative_binomial_overdispersion_matches_dispersion(dispersion):
    data = make_expression(600, 300, 20, dispersion=dispersion, random_state=7)
    x, mu = data.counts, data.mean
    assert ((x - mu) ** 2).sum() > mu.sum()  # variance exceeds the mean
    # Method of moments: E[(x - mu)^2 - mu] = dispersion * mu^2, pooled over moderate means.
    moderate = (mu > 5) & (mu < np.quantile(mu, 0.99))
    estimate = ((x - mu) ** 2 - mu)[moderate].sum() / (mu**2)[moderate].sum()
    assert estimate == pytest.approx(dispersion, rel=0.15)


def test_zero_dispersion_is_poisson():
    data = make_expression(600, 300, 20, dispersion=0.0, random_state=8)
    x, mu = data.counts, data.mean
    ratio = ((x - mu) ** 2).sum() / mu.sum()  # Poisson: variance equals the mean
    assert ratio == pytest.approx(1.0, abs=0.03)


def test_library_sizes_vary_log_normally_and_drive_totals():
    data = make_expression(2000, 200, 10, library_size=5e4, library_size_spread=0.8, random_state=9)
    log_lib = np.log(data.library_size)
    assert np.exp(np.median(log_lib)) == pytest.approx(5e4, rel=0.1)
    assert log_lib.std() == pytest.approx(0.8, rel=0.1)
    assert np.corrcoef(log_lib, np.log(data.counts.sum(axis=1) + 1))[0, 1] > 0.95
    same = make_expression(50, 200, 10, library_size=5e4, library_size_spread=0.0, random_state=9)
    np.testing.assert_allclose(same.library_size, 5e4)


def test_mean_profile_scores_high_and_grows_with_baseline():
    scores = {
        share: _mean_profile_pearson(make_expression(500, 400, 20, baseline=share, random_state=10).counts)
        for share in (0.0, 0.6, 0.9)
    }
    assert scores[0.0] < scores[0.6] < scores[0.9]
    assert scores[0.6] > 0.6 and scores[0.9] > 0.85


def test_default_data_resembles_real_expression(default_data):
    counts = default_data.counts
    assert counts.shape == (2000, 1000) and default_data.modules.shape[0] == 50
    assert 0.2 < (counts == 0).mean() < 0.6  # ARCHS4 slice: 45% zeros
    assert 0.65 < _mean_profile_pearson(counts) < 0.9  # ARCHS4 slice: 0.72


def test_module_structure_is_low_rank_beyond_the_baseline():
    data = make_expression(600, 400, 20, random_state=11)
    k = data.modules.shape[0]
    # Noiseless: proportions minus the baseline share lie exactly in the span of the modules.
    beyond = data.proportions - data.baseline * data.profile
    coef, *_ = np.linalg.lstsq(data.modules.T, beyond.T, rcond=None)
    np.testing.assert_allclose(data.modules.T @ coef, beyond.T, atol=1e-12)
    # Noisy counts: the top-k singular vectors of centred log CPM explain far more variance
    # than a random k-dimensional subspace.
    logs = np.log1p(_cpm(data.counts))
    centred = logs - logs.mean(axis=0)
    singular = np.linalg.svd(centred, compute_uv=False)
    explained_svd = (singular[:k] ** 2).sum() / (singular**2).sum()
    basis, _ = np.linalg.qr(np.random.default_rng(0).standard_normal((centred.shape[1], k)))
    explained_random = np.linalg.norm(centred @ basis) ** 2 / np.linalg.norm(centred) ** 2
    assert explained_svd > 0.35
    assert explained_svd > 4 * explained_random


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        (dict(n_samples=0), "n_samples"),
        (dict(n_genes=2.5), "n_genes"),
        (dict(modules_per_sample=21), "modules_per_sample"),
        (dict(genes_per_module=301), "genes_per_module"),
        (dict(baseline=1.0), "baseline"),
        (dict(baseline=-0.1), "baseline"),
        (dict(dispersion=-1.0), "dispersion"),
        (dict(dispersion=float("nan")), "dispersion"),
        (dict(library_size=0.0), "library_size"),
        (dict(library_size_spread=-1.0), "library_size_spread"),
        (dict(random_state="seed"), "random_state"),
    ],
)
def test_bad_arguments_raise_input_error(kwargs, fragment):
    arguments = {**SMALL, **kwargs}
    with pytest.raises(InputError, match=fragment):
        make_expression(**arguments)
