"""Recovery metrics against scipy.stats / scipy.spatial references."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.spatial.distance import pdist
from scipy.stats import pearsonr, spearmanr

from csgene import metrics
from csgene.exceptions import InputError
from csgene.metrics import (
    distance_corr,
    evaluate,
    measurement_distance_corr,
    pearson_gene,
    pearson_sample,
    pearson_sample_centered,
    spearman_gene,
    spearman_sample,
)

ROW_METRICS = {
    "pearson_sample": (pearson_sample, pearsonr, 1),
    "pearson_gene": (pearson_gene, pearsonr, 0),
    "spearman_sample": (spearman_sample, spearmanr, 1),
    "spearman_gene": (spearman_gene, spearmanr, 0),
}


def noisy_pair(seed: int, n_samples: int = 30, n_genes: int = 20, noise: float = 1.0):
    rng = np.random.default_rng(seed)
    X = rng.gamma(2.0, 2.0, size=(n_samples, n_genes))
    return X, X + noise * rng.normal(size=X.shape)


def reference_mean_corr(X, X_hat, corr, axis, constant_prediction="zero"):
    """Slow reference: loop over units with scipy; skip constant truth, 0 or skip for constant prediction."""
    A, B = (X, X_hat) if axis == 1 else (X.T, X_hat.T)
    scores, skipped = [], 0
    for a, b in zip(A.astype(np.float64), B.astype(np.float64)):
        if np.all(a == a[0]):
            skipped += 1
        elif np.all(b == b[0]):
            if constant_prediction == "skip":
                skipped += 1
            else:
                scores.append(0.0)
        else:
            scores.append(corr(a, b)[0])
    return (float(np.mean(scores)) if scores else 0.0), skipped


# -- agreement with scipy ---------------------------------------------------------------------
@pytest.mark.parametrize("name", ROW_METRICS)
@pytest.mark.parametrize("seed, shape", [(0, (30, 20)), (1, (5, 200)), (2, (200, 4)), (3, (3, 2))])
def test_row_metrics_match_scipy(name, seed, shape):
    function, corr, axis = ROW_METRICS[name]
    X, X_hat = noisy_pair(seed, *shape)
    expected, _ = reference_mean_corr(X, X_hat, corr, axis)
    assert function(X, X_hat) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("name", ["spearman_sample", "spearman_gene"])
def test_spearman_with_ties_matches_scipy(name):
    function, corr, axis = ROW_METRICS[name]
    rng = np.random.default_rng(4)
    X = rng.poisson(1.5, size=(25, 15)).astype(float)  # many ties
    X_hat = rng.poisson(1.5, size=X.shape) + X
    expected, skipped = reference_mean_corr(X, X_hat, corr, axis)
    assert function(X, X_hat, return_skipped=True) == pytest.approx((expected, skipped), abs=1e-12)


def test_pearson_sample_centered_matches_scipy():
    X, X_hat = noisy_pair(5)
    mean_profile = np.random.default_rng(55).gamma(2.0, 2.0, size=X.shape[1])
    expected = np.mean([pearsonr(x - mean_profile, y - mean_profile)[0] for x, y in zip(X, X_hat)])
    assert pearson_sample_centered(X, X_hat, mean_profile) == pytest.approx(expected, abs=1e-12)
    # A (1, n_genes) profile is accepted too.
    assert pearson_sample_centered(X, X_hat, mean_profile[None, :]) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("seed, shape", [(6, (40, 25)), (7, (3, 5)), (8, (120, 2))])
def test_distance_corr_matches_pdist(seed, shape):
    X, X_hat = noisy_pair(seed, *shape)
    expected = pearsonr(pdist(X), pdist(X_hat))[0]
    assert distance_corr(X, X_hat) == pytest.approx(expected, abs=1e-10)


def test_distance_corr_large_offset_is_accurate():
    # Large common offset: the Gram-matrix formula must not lose the small distances.
    X, X_hat = noisy_pair(9, 60, 30, noise=0.3)
    expected = pearsonr(pdist(X), pdist(X_hat))[0]
    assert distance_corr(X + 1e6, X_hat - 1e6) == pytest.approx(expected, abs=1e-8)


def test_measurement_distance_corr_matches_pdist_and_jl():
    rng = np.random.default_rng(10)
    # Samples from a few modules with varying activity, so pairwise distances vary widely.
    X = rng.gamma(0.5, 1.0, size=(80, 6)) @ rng.gamma(1.0, 1.0, size=(6, 500))
    scores = {}
    for d in (5, 300):
        A = rng.normal(size=(d, X.shape[1]))
        Y = X @ A.T
        expected = pearsonr(pdist(X), pdist(Y))[0]
        scores[d] = measurement_distance_corr(X, Y)
        assert scores[d] == pytest.approx(expected, abs=1e-10)
        assert measurement_distance_corr(X, 7.0 * Y) == pytest.approx(scores[d], abs=1e-10)
    assert scores[300] > 0.9  # Johnson–Lindenstrauss: many measurements keep distances
    assert scores[300] > scores[5]


# -- constant rows and columns ----------------------------------------------------------------
@pytest.mark.parametrize("name", ROW_METRICS)
@pytest.mark.parametrize("mode", ["zero", "skip"])
def test_constant_units_are_skipped_and_counted(name, mode):
    function, corr, axis = ROW_METRICS[name]
    X, X_hat = noisy_pair(11, 12, 10)
    if axis == 0:
        X, X_hat = X.T.copy(), X_hat.T.copy()  # same unit layout: units are rows below
    X[1] = 3.0            # constant truth
    X[4] = 0.1            # constant truth whose mean is not exactly representable
    X_hat[1] = 2.0        # both constant
    X_hat[6] = -5.0       # constant prediction, varying truth
    X_hat[7] = 0.0
    if axis == 0:
        X, X_hat = X.T, X_hat.T
    score, n_skipped = function(X, X_hat, constant_prediction=mode, return_skipped=True)
    expected, expected_skipped = reference_mean_corr(X, X_hat, corr, axis, mode)
    assert n_skipped == expected_skipped == (2 if mode == "zero" else 4)
    assert score == pytest.approx(expected, abs=1e-12)
    assert np.isfinite(score)


@pytest.mark.parametrize("name", ROW_METRICS)
def test_all_constant_gives_zero_not_nan(name):
    function, _, axis = ROW_METRICS[name]
    X_hat = np.random.default_rng(0).normal(size=(6, 4))
    if axis == 1:
        X = np.repeat(np.arange(6.0)[:, None], 4, axis=1)  # every sample constant
    else:
        X = np.repeat(np.arange(4.0)[None, :], 6, axis=0)  # every gene constant
    assert function(X, X_hat, return_skipped=True) == (0.0, X.shape[1 - axis])
    assert function(X_hat, np.zeros_like(X_hat), return_skipped=True) == (0.0, 0)


@pytest.mark.parametrize("name", ROW_METRICS)
def test_invariant_to_affine_maps_of_the_prediction(name):
    function, _, axis = ROW_METRICS[name]
    X, X_hat = noisy_pair(20, 15, 12)
    shift = np.random.default_rng(20).normal(size=(X.shape[0], 1) if axis == 1 else (1, X.shape[1]))
    assert function(X, 3.5 * X_hat + 100.0 * shift) == pytest.approx(function(X, X_hat), abs=1e-12)
    assert function(X, -X_hat) == pytest.approx(-function(X, X_hat), abs=1e-12)


def test_distance_corr_constant_prediction_is_zero():
    X, _ = noisy_pair(12)
    X_hat = np.tile(X.mean(axis=0), (X.shape[0], 1))  # the mean baseline: all distances 0
    assert distance_corr(X, X_hat) == 0.0


def test_centered_metric_exposes_the_mean_predictor():
    rng = np.random.default_rng(13)
    n_train, n_test, n_genes = 200, 50, 300
    shared = rng.gamma(1.0, 10.0, size=n_genes)  # a large common profile
    X_train = shared + rng.normal(scale=0.5, size=(n_train, n_genes))
    X_test = shared + rng.normal(scale=0.5, size=(n_test, n_genes))
    mean_profile = X_train.mean(axis=0)
    mean_prediction = np.tile(mean_profile, (n_test, 1))
    assert pearson_sample(X_test, mean_prediction) > 0.95
    centered, n_skipped = pearson_sample_centered(X_test, mean_prediction, mean_profile, return_skipped=True)
    assert centered == pytest.approx(0.0, abs=1e-12) and n_skipped == 0
    # A predictor that recovered the deviations scores high on both.
    good = X_test + rng.normal(scale=0.1, size=X_test.shape)
    assert pearson_sample_centered(X_test, good, mean_profile) > 0.9


# -- dtypes, blocks, subsampling --------------------------------------------------------------
def test_float32_inputs_accumulate_in_float64():
    X, X_hat = noisy_pair(14, 40, 1000)
    X32, X_hat32 = (X + 3e3).astype(np.float32), (X_hat + 3e3).astype(np.float32)
    X64, X_hat64 = X32.astype(np.float64), X_hat32.astype(np.float64)
    mean_profile = X64.mean(axis=0)
    got, want = evaluate(X32, X_hat32, mean_profile), evaluate(X64, X_hat64, mean_profile)
    for key in want:
        assert got[key] == pytest.approx(want[key], abs=1e-12), key
    expected, _ = reference_mean_corr(X64, X_hat64, pearsonr, 1)
    assert got["pearson_sample"] == pytest.approx(expected, abs=1e-10)
    assert isinstance(got["pearson_sample"], float)


def test_blocked_computation_equals_single_block(monkeypatch):
    X, X_hat = noisy_pair(15, 37, 23)
    X[5] = 1.0
    whole = evaluate(X, X_hat)
    monkeypatch.setattr(metrics, "_BLOCK_ELEMENTS", 50)  # 2 rows (or genes) per block
    assert evaluate(X, X_hat) == pytest.approx(whole, abs=1e-14)


def test_subsampled_distance_corr_is_seeded_and_close():
    X, X_hat = noisy_pair(16, 600, 40, noise=2.0)
    exact = pearsonr(pdist(X), pdist(X_hat))[0]
    assert distance_corr(X, X_hat) == pytest.approx(exact, abs=1e-10)  # default: exact here
    sub = distance_corr(X, X_hat, max_pairs=20_000, random_state=1)
    assert sub == distance_corr(X, X_hat, max_pairs=20_000, random_state=1)
    assert sub != distance_corr(X, X_hat, max_pairs=20_000, random_state=2)
    assert sub != pytest.approx(exact, abs=1e-10)
    assert sub == pytest.approx(exact, abs=0.05)
    assert distance_corr(X, X_hat, max_pairs=600 * 599 // 2) == pytest.approx(exact, abs=1e-10)


def test_subset_size_respects_max_pairs():
    for max_pairs in (3, 10, 11, 4950, 4951, 20_000):
        subset = metrics._subset(10_000, max_pairs, 0)
        m = subset.size
        assert m * (m - 1) // 2 <= max_pairs < (m + 1) * m // 2
        assert np.unique(subset).size == m
    assert metrics._subset(100, 4950, 0) is None


# -- evaluate ---------------------------------------------------------------------------------
def test_evaluate_keys_and_values():
    X, X_hat = noisy_pair(17)
    X[0] = 2.0
    mean_profile = X.mean(axis=0) + 1.0
    result = evaluate(X, X_hat, mean_profile)
    assert list(result) == [
        "pearson_sample", "pearson_sample_centered", "distance_corr", "pearson_gene",
        "spearman_sample", "spearman_gene",
        "n_skipped_pearson_sample", "n_skipped_pearson_sample_centered", "n_skipped_pearson_gene",
        "n_skipped_spearman_sample", "n_skipped_spearman_gene",
    ]
    assert result["pearson_sample"] == pearson_sample(X, X_hat)
    assert result["pearson_sample_centered"] == pearson_sample_centered(X, X_hat, mean_profile)
    assert result["distance_corr"] == distance_corr(X, X_hat)
    assert result["pearson_gene"] == pearson_gene(X, X_hat)
    assert result["spearman_sample"] == spearman_sample(X, X_hat)
    assert result["spearman_gene"] == spearman_gene(X, X_hat)
    assert result["n_skipped_pearson_sample"] == 1 == result["n_skipped_spearman_sample"]
    assert result["n_skipped_pearson_sample_centered"] == 0  # row 0 minus the profile varies
    assert all(isinstance(result[k], int) for k in result if k.startswith("n_skipped"))
    # Without a profile the test-set mean is used.
    assert evaluate(X, X_hat)["pearson_sample_centered"] == pearson_sample_centered(X, X_hat, X.mean(axis=0))


# -- bad input --------------------------------------------------------------------------------
@pytest.mark.parametrize("function", [pearson_sample, pearson_gene, spearman_sample, spearman_gene,
                                      distance_corr, evaluate])
def test_bad_input_raises_input_error(function):
    X, X_hat = noisy_pair(18, 6, 5)
    with pytest.raises(InputError, match="shape"):
        function(X, X_hat[:, :4])
    with pytest.raises(InputError, match="2-D"):
        function(X[0], X_hat[0])
    bad = X_hat.copy()
    bad[2, 3] = np.nan
    with pytest.raises(InputError, match="NaN"):
        function(X, bad)
    bad[2, 3] = np.inf
    with pytest.raises(InputError, match="infinite"):
        function(bad, X)


def test_bad_options_raise_input_error():
    X, X_hat = noisy_pair(19, 6, 5)
    with pytest.raises(InputError, match="mean_profile"):
        pearson_sample_centered(X, X_hat, np.zeros(4))
    with pytest.raises(InputError, match="mean_profile"):
        pearson_sample_centered(X, X_hat, np.full(5, np.nan))
    with pytest.raises(InputError, match="mean_profile"):
        evaluate(X, X_hat, np.zeros((2, 5)))
    with pytest.raises(InputError, match="constant_prediction"):
        pearson_sample(X, X_hat, constant_prediction="nan")
    with pytest.raises(InputError, match="at least 3"):
        distance_corr(X[:2], X_hat[:2])
    with pytest.raises(InputError, match="max_pairs"):
        distance_corr(X, X_hat, max_pairs=0)
    with pytest.raises(InputError, match="samples"):
        measurement_distance_corr(X, X_hat[:4])


# -- properties -------------------------------------------------------------------------------
values = st.floats(-1e3, 1e3, allow_nan=False, width=32)
matrices = arrays(np.float64, st.tuples(st.integers(3, 8), st.integers(2, 8)), elements=values)


@settings(max_examples=40, deadline=None)
@given(matrices, st.data())
def test_properties_against_scipy(X, data):
    X_hat = data.draw(arrays(np.float64, X.shape, elements=values))
    for name, (function, corr, axis) in ROW_METRICS.items():
        score = function(X, X_hat)
        assert -1.0 <= score <= 1.0
        expected, _ = reference_mean_corr(X, X_hat, corr, axis)
        assert score == pytest.approx(expected, abs=1e-9), name
    # Invariant to positive scaling (exact powers of two, so no value collapses).
    scale = data.draw(st.sampled_from([2.0**-60, 0.25, 8.0, 2.0**60]))
    for function, _, _ in ROW_METRICS.values():
        assert function(X, scale * X_hat) == pytest.approx(function(X, X_hat), abs=1e-9)
    assert distance_corr(X, X_hat) == pytest.approx(distance_corr(X_hat, X), abs=1e-12)
