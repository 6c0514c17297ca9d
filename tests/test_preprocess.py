"""Preprocessing transforms against plain numpy / scikit-learn references."""

from __future__ import annotations

import io

import h5py
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.preprocessing import MinMaxScaler as SklearnMinMaxScaler

from csgene.exceptions import InputError, ModelFileError
from csgene.preprocess import (
    Identity,
    Log1p,
    Log1pCPM,
    MinMaxScaler,
    PercentileClip,
    PreprocessChain,
    make_preprocessor,
)

ALL_TRANSFORMS = [
    Identity(),
    MinMaxScaler(),
    PercentileClip(),
    PercentileClip(percentile=90, per_gene=True),
    Log1p(),
    Log1pCPM(),
    Log1pCPM(scale=1e4),
]


def counts(seed: int, n_samples: int = 40, n_genes: int = 25) -> np.ndarray:
    """Overdispersed counts with a constant gene, an all-zero gene and an all-zero sample."""
    rng = np.random.default_rng(seed)
    X = rng.negative_binomial(2, 0.05, size=(n_samples, n_genes)).astype(np.float64)
    X[:, 3] = 7.0
    X[:, 5] = 0.0
    X[2] = 0.0
    return X


# -- MinMaxScaler ---------------------------------------------------------------------------
def test_minmax_matches_sklearn_on_new_data():
    X_train, X_test = counts(0), counts(1)
    varying = np.ptp(X_train, axis=0) > 0
    ours = MinMaxScaler().fit(X_train)
    ref = SklearnMinMaxScaler().fit(X_train[:, varying])
    np.testing.assert_allclose(ours.transform(X_test)[:, varying], ref.transform(X_test[:, varying]),
                               rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ours.data_min_, X_train.min(axis=0))
    np.testing.assert_allclose(ours.data_range_, np.ptp(X_train, axis=0))


def test_minmax_training_data_in_unit_interval_and_constant_genes():
    X = counts(2)
    X[:, 3] = 7.0  # constant at a nonzero value
    scaler = MinMaxScaler().fit(X)
    Z = scaler.transform(X)
    assert Z.min() == 0.0 and Z.max() == 1.0
    constant = np.ptp(X, axis=0) == 0
    assert constant.sum() >= 2
    assert np.all(Z[:, constant] == 0.0)
    back = scaler.inverse_transform(np.random.default_rng(0).random(Z.shape))
    np.testing.assert_array_equal(back[:, constant], X[:, constant])  # the constant comes back
    np.testing.assert_allclose(scaler.inverse_transform(Z), X, atol=1e-9)


@settings(max_examples=30, deadline=None)
@given(arrays(np.float64, st.tuples(st.integers(1, 6), st.integers(1, 5)),
              elements=st.floats(-1e6, 1e6, allow_nan=False)))
def test_minmax_round_trip_property(X):
    scaler = MinMaxScaler().fit(X)
    np.testing.assert_allclose(scaler.inverse_transform(scaler.transform(X)), X,
                               atol=1e-9 * (1 + np.abs(X).max()))


# -- PercentileClip -------------------------------------------------------------------------
@pytest.mark.parametrize("percentile", [50, 90, 99, 99.5, 100])
def test_clip_whole_matrix_uses_training_percentile(percentile):
    X_train, X_test = counts(3), counts(4) * 3
    clip = PercentileClip(percentile=percentile).fit(X_train)
    threshold = np.percentile(X_train.ravel(), percentile)
    assert clip.threshold_.shape == ()
    assert clip.threshold_ == pytest.approx(threshold)
    expected = np.where(X_test > threshold, threshold, X_test)
    np.testing.assert_array_equal(clip.transform(X_test), expected)


def test_clip_per_gene_matches_column_loop():
    X_train, X_test = counts(5), counts(6) * 2
    clip = PercentileClip(percentile=80, per_gene=True).fit(X_train)
    expected = np.empty_like(X_test)
    for g in range(X_train.shape[1]):
        t = np.percentile(X_train[:, g], 80)
        expected[:, g] = [min(v, t) for v in X_test[:, g]]
    np.testing.assert_array_equal(clip.transform(X_test), expected)


def test_clip_inverse_is_identity():
    X = counts(7)
    clip = PercentileClip(percentile=60).fit(X)
    Z = clip.transform(X)
    assert (Z < X).any()  # it really clipped something
    np.testing.assert_array_equal(clip.inverse_transform(Z), Z)


@pytest.mark.parametrize("percentile", [0, -5, 100.5, float("nan"), "99"])
def test_clip_bad_percentile(percentile):
    with pytest.raises(InputError, match="percentile"):
        PercentileClip(percentile=percentile).fit(counts(0))


# -- Log transforms -------------------------------------------------------------------------
def test_log1p_matches_numpy_and_inverts():
    X = counts(8)
    log = Log1p().fit(X)
    Z = log.transform(X)
    np.testing.assert_allclose(Z, np.log(1.0 + X), rtol=1e-13)
    np.testing.assert_allclose(log.inverse_transform(Z), X, rtol=1e-12, atol=1e-9)


def cpm_reference(X: np.ndarray, scale: float) -> np.ndarray:
    out = np.zeros_like(X)
    for i, row in enumerate(X):
        total = row.sum()
        if total > 0:
            out[i] = np.log(1.0 + row / total * scale)
    return out


@pytest.mark.parametrize("scale", [1e6, 1e4, 1.0])
def test_log1p_cpm_matches_row_loop(scale):
    X_train, X_test = counts(9), counts(10)
    cpm = Log1pCPM(scale=scale).fit(X_train)
    Z = cpm.transform(X_test)
    np.testing.assert_allclose(Z, cpm_reference(X_test, scale), rtol=1e-12, atol=1e-12)
    assert np.all(Z[2] == 0.0)  # the all-zero sample
    np.testing.assert_allclose(cpm.mean_library_size_, X_train.sum(axis=1).mean())


def test_log1p_cpm_inverse_library_sizes():
    X_train, X_test = counts(11), counts(12, n_samples=13)
    cpm = Log1pCPM().fit(X_train)
    Z = cpm.transform(X_test)
    totals = X_test.sum(axis=1)
    # No sizes: counts per million, whatever was transformed before (no hidden state).
    cpm_values = X_test * np.divide(1e6, totals, out=np.zeros_like(totals), where=totals > 0)[:, None]
    np.testing.assert_allclose(cpm.inverse_transform(Z), cpm_values, rtol=1e-10, atol=1e-6)
    cpm.transform(counts(13, n_samples=13))
    np.testing.assert_allclose(cpm.inverse_transform(Z), cpm_values, rtol=1e-10, atol=1e-6)
    # Explicit sizes, a single number, and the training mean.
    np.testing.assert_allclose(cpm.inverse_transform(Z, library_size=totals), X_test, rtol=1e-10, atol=1e-8)
    one = cpm.inverse_transform(Z[:1], library_size=2 * totals[0])
    np.testing.assert_allclose(one, 2 * X_test[:1], rtol=1e-10, atol=1e-8)
    mean = cpm.inverse_transform(Z, library_size="mean")
    np.testing.assert_allclose(mean.sum(axis=1)[totals > 0], X_train.sum(axis=1).mean(), rtol=1e-10)
    with pytest.raises(InputError, match="shape"):
        cpm.inverse_transform(Z, library_size=totals[:4])
    with pytest.raises(InputError, match="library_size"):
        cpm.inverse_transform(Z, library_size="median")
    np.testing.assert_allclose(Log1pCPM.from_state(cpm.get_state()).inverse_transform(Z), cpm_values,
                               rtol=1e-10, atol=1e-6)


@pytest.mark.parametrize("transform", [Log1p(), Log1pCPM()])
def test_log_transforms_refuse_negative_input(transform):
    X = counts(13)
    transform.fit(X)
    X_bad = X.copy()
    X_bad[4, 6] = -1.0
    for call in (transform.transform, clone(transform).fit):
        with pytest.raises(InputError, match="negative") as info:
            call(X_bad)
        assert type(transform).__name__ in str(info.value)


# -- Common behaviour -----------------------------------------------------------------------
@pytest.mark.parametrize("transform", ALL_TRANSFORMS, ids=repr)
def test_common_checks(transform):
    X = counts(14)
    with pytest.raises(NotFittedError):
        clone(transform).transform(X)
    fitted = clone(transform).fit(X)
    with pytest.raises(InputError, match="genes"):
        fitted.transform(X[:, :-1])
    X_nan = X.copy()
    X_nan[0, 0] = np.nan
    with pytest.raises(InputError, match="NaN"):
        fitted.transform(X_nan)
    with pytest.raises(InputError, match="2-D"):
        fitted.transform(X[0])
    # float32 stays float32, ints become float64, the input is never modified.
    X32 = X.astype(np.float32)
    assert fitted.transform(X32).dtype == np.float32
    assert fitted.transform(X.astype(np.int64)).dtype == np.float64
    before = X.copy()
    fitted.inverse_transform(fitted.transform(X))
    np.testing.assert_array_equal(X, before)


def assert_same_transform(a, b, X):
    np.testing.assert_array_equal(a.transform(X), b.transform(X))
    Z = a.transform(X)
    np.testing.assert_array_equal(a.inverse_transform(Z), b.inverse_transform(Z))


@pytest.mark.parametrize("transform", ALL_TRANSFORMS, ids=repr)
def test_state_round_trip_through_npz_and_hdf5(transform, tmp_path):
    X = counts(15)
    fitted = clone(transform).fit(X)
    state = fitted.get_state()
    assert all(isinstance(v, np.ndarray) for v in state.values())

    buffer = io.BytesIO()
    np.savez(buffer, **state)
    buffer.seek(0)
    with np.load(buffer, allow_pickle=False) as npz:
        rebuilt = type(fitted).from_state(dict(npz))
    assert rebuilt.get_params() == fitted.get_params()
    assert_same_transform(fitted, rebuilt, counts(16))

    with h5py.File(tmp_path / "state.h5", "w") as f:
        for key, value in state.items():
            f[key] = value
    with h5py.File(tmp_path / "state.h5", "r") as f:
        rebuilt = type(fitted).from_state({key: f[key][()] for key in f})
    assert_same_transform(fitted, rebuilt, counts(16))


def test_from_state_rejects_corrupt_state():
    state = MinMaxScaler().fit(counts(17)).get_state()
    with pytest.raises(ModelFileError, match="data_min_"):
        MinMaxScaler.from_state({k: v for k, v in state.items() if k != "data_min_"})
    with pytest.raises(ModelFileError, match="shape"):
        MinMaxScaler.from_state({**state, "data_range_": state["data_range_"][:-1]})
    clip_state = PercentileClip().fit(counts(17)).get_state()
    with pytest.raises(ModelFileError, match="invalid parameters"):
        PercentileClip.from_state({**clip_state, "percentile": np.asarray(150.0)})
    with pytest.raises(ModelFileError, match="unknown step kind"):
        PreprocessChain.from_state({"kinds": np.bytes_(b"minmax+zscore")})


def test_get_state_needs_fit():
    with pytest.raises(NotFittedError):
        MinMaxScaler().get_state()


# -- Chains ---------------------------------------------------------------------------------
def test_chain_equals_manual_composition_and_inverts_in_reverse():
    X_train, X_test = counts(18), counts(19)
    chain = make_preprocessor("clip95+log1p+minmax").fit(X_train)
    clip = PercentileClip(95).fit(X_train)
    log = Log1p().fit(clip.transform(X_train))
    scale = MinMaxScaler().fit(log.transform(clip.transform(X_train)))
    expected = scale.transform(log.transform(clip.transform(X_test)))
    Z = chain.transform(X_test)
    np.testing.assert_allclose(Z, expected, rtol=1e-12)
    np.testing.assert_allclose(chain.inverse_transform(Z),
                               log.inverse_transform(scale.inverse_transform(Z)), rtol=1e-12)
    np.testing.assert_allclose(chain.inverse_transform(Z), clip.transform(X_test), rtol=1e-9, atol=1e-9)


def test_chain_with_cpm_forwards_library_size():
    X = counts(20)
    chain = make_preprocessor("log1p-cpm+minmax").fit(X)
    Z = chain.transform(X)
    np.testing.assert_allclose(chain.inverse_transform(Z, library_size=X.sum(axis=1)), X, atol=1e-7)
    doubled = chain.inverse_transform(Z, library_size=2 * X.sum(axis=1))
    np.testing.assert_allclose(doubled, 2 * X, atol=1e-7)


@pytest.mark.parametrize("spec, kinds, percentile", [
    ("clip99+log1p", ["clip", "log1p"], 99.0),
    ("clip99.5, minmax", ["clip", "minmax"], 99.5),
    (["CLIP90", " minmax "], ["clip", "minmax"], 90.0),
    ("none+log1p-cpm+none", ["log1p-cpm"], None),
    ("none", ["none"], None),
    (None, ["none"], None),
])
def test_make_preprocessor_parses_names(spec, kinds, percentile):
    chain = make_preprocessor(spec)
    assert isinstance(chain, PreprocessChain)
    assert [step.kind for _, step in chain.steps] == kinds
    if percentile is not None:
        assert chain.steps[0][1].percentile == percentile


@pytest.mark.parametrize("spec", ["zscore", "clip99+log2", "clip", "clip101", "log1p++minmax", "", [],
                                  ["minmax", 3]])
def test_make_preprocessor_rejects_bad_names(spec):
    with pytest.raises(InputError) as info:
        make_preprocessor(spec)
    message = str(info.value)
    if isinstance(spec, str) and spec and "++" not in spec and spec != "clip101":
        for name in ("none", "minmax", "log1p", "log1p-cpm", "clipNN"):
            assert name in message


def test_none_chain_is_identity():
    X = counts(21)
    chain = make_preprocessor("none").fit(X)
    np.testing.assert_array_equal(chain.transform(X), X)
    np.testing.assert_array_equal(chain.inverse_transform(X), X)


def test_chain_state_round_trip_npz():
    X = counts(22)
    chain = make_preprocessor("clip99+log1p-cpm+minmax").fit(X)
    state = chain.get_state()
    buffer = io.BytesIO()
    np.savez(buffer, **state)
    buffer.seek(0)
    with np.load(buffer, allow_pickle=False) as npz:
        rebuilt = PreprocessChain.from_state(dict(npz))
    X_new = counts(23)
    np.testing.assert_array_equal(rebuilt.transform(X_new), chain.transform(X_new))
    Z = chain.transform(X_new)
    np.testing.assert_array_equal(rebuilt.inverse_transform(Z), chain.inverse_transform(Z))


def test_chain_is_clonable_and_fit_on_training_only():
    X_train, X_test = counts(24), counts(25) * 10
    chain = make_preprocessor("minmax").fit(X_train)
    clone(chain).fit(X_test)  # a clone does not touch the original
    np.testing.assert_allclose(chain.steps[0][1].data_min_, X_train.min(axis=0))
    assert chain.transform(X_test).max() > 1.0  # test data outside the training range


def test_minmax_subnormal_range_is_treated_as_constant():
    """Regression (found by hypothesis in CI): 1/range overflowed to inf for a subnormal range."""
    X = np.array([[2.22507386e-311], [0.0]])
    scaler = MinMaxScaler().fit(X)
    out = scaler.transform(X)
    assert np.isfinite(out).all() and np.all(out == 0)
    np.testing.assert_allclose(scaler.inverse_transform(out), X, atol=1e-300)


# --------------------------------------------------------------------------- already-logged data


def test_log1p_warns_on_data_that_look_already_logged():
    logged = np.log1p(counts(0))
    for name in ("log1p", "log1p-cpm", "clip99+log1p"):
        with pytest.warns(UserWarning, match="already log-transformed"):
            make_preprocessor(name).fit(logged)


def test_no_warning_for_counts_normalised_counts_or_other_steps(recwarn):
    raw = counts(1)
    make_preprocessor("log1p").fit(raw)  # whole numbers
    make_preprocessor("log1p").fit(raw / raw.sum(axis=1, keepdims=True).clip(1) * 1e6)  # CPM: max >> 30
    make_preprocessor("log1p").fit(np.minimum(raw, 20))  # small whole-number counts
    make_preprocessor("minmax").fit(np.log1p(raw))  # no log step: nothing logged twice
    assert not [w for w in recwarn if "log-transformed" in str(w.message)]


def test_looks_log_transformed_threshold():
    from csgene.preprocess import LOGGED_MAX, looks_log_transformed

    assert looks_log_transformed(np.array([[0.5, LOGGED_MAX - 0.01]]))
    assert not looks_log_transformed(np.array([[0.5, LOGGED_MAX]]))
    assert not looks_log_transformed(np.array([[1.0, 2.0]]))
    assert not looks_log_transformed(np.zeros((0, 3)))
