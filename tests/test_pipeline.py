"""CompressedSensing: fit / measure / recover, gene alignment, save/load round trip, bad input."""

import h5py
import numpy as np
import pytest

from csgene import CompressedSensing
from csgene.datasets import make_expression
from csgene.exceptions import InputError, ModelFileError
from csgene.metrics import pearson_sample, pearson_sample_centered


@pytest.fixture(scope="module")
def data():
    return make_expression(n_samples=260, n_genes=150, n_modules=12, random_state=0)


#: pearson_sample_centered floor of each method at d = 40 without noise (measured: mean 0 exactly,
#: the others 0.79-0.82): a recovery that ignores the measurements, or misplaces genes, misses it.
CENTERED_FLOOR = {"mean": None, "ridge": 0.7, "gaussian": 0.7, "svd": 0.7, "snmf": 0.7, "smaf": 0.7}


@pytest.mark.parametrize("method", sorted(CENTERED_FLOOR))
def test_fit_measure_recover_save_load_round_trip(data, method, tmp_path):
    X, names = data.counts, data.gene_names
    cs = CompressedSensing(method, n_measurements=40, n_modules=20, sparsity=5, random_state=0)
    cs.fit(X[:200], gene_names=names)
    Y = cs.measure(X[200:], snr=np.inf, random_state=1)
    assert Y.shape == (60, 40)
    X_hat = cs.recover(Y)
    assert X_hat.shape == (60, 150) and np.isfinite(X_hat).all()
    truth = cs.preprocessor_.transform(X[200:])
    mean_profile = cs.preprocessor_.transform(X[:200]).mean(axis=0)
    centered = pearson_sample_centered(truth, cs.recover(Y, space="preprocessed"), mean_profile)
    if CENTERED_FLOOR[method] is None:
        assert abs(centered) < 1e-9  # the mean profile recovers nothing beyond the mean
    else:
        assert centered > CENTERED_FLOOR[method]
    path = cs.save(tmp_path / "model.h5")
    loaded = CompressedSensing.load(path)
    np.testing.assert_allclose(loaded.recover(Y), X_hat, rtol=1e-6, atol=1e-8)
    np.testing.assert_array_equal(loaded.gene_names_, cs.gene_names_)
    np.testing.assert_array_equal(loaded.design_, cs.design_)


SMALL_NEURAL = {
    "mlp": {"hidden": [32, 32], "max_epochs": 3},
    "vae": {"hidden": [32], "latent_dim": 4, "max_epochs": 3, "kl_warmup": 1, "recovery_steps": 20},
    "gan": {"hidden": [32], "latent_dim": 4, "max_epochs": 2, "steps_per_epoch": 2, "recovery_steps": 20},
}


@pytest.mark.parametrize("method", sorted(SMALL_NEURAL))
def test_neural_models_save_in_the_model_file_and_load_identically(data, method, tmp_path):
    pytest.importorskip("torch", reason="needs the nn extra: pip install 'csgene[nn]'")
    X = data.counts
    cs = CompressedSensing(method, n_measurements=30, snr=2.0, random_state=0, device="cpu",
                           method_options=SMALL_NEURAL[method]).fit(X[:200], gene_names=data.gene_names)
    assert cs.method_.max_epochs == SMALL_NEURAL[method]["max_epochs"]  # the options reached the model
    Y = cs.measure(X[200:], random_state=1)
    X_hat = cs.recover(Y)
    with h5py.File(cs.save(tmp_path / "model.h5")) as fh:
        assert fh["method/torch_weights"].dtype == np.uint8  # weights only, no pickled objects
    loaded = CompressedSensing.load(tmp_path / "model.h5")
    assert type(loaded.method_) is type(cs.method_) and loaded.method_options == SMALL_NEURAL[method]
    np.testing.assert_array_equal(loaded.recover(Y), X_hat)


def test_unsavable_method_and_bad_method_options_fail_clearly(data, tmp_path):
    pytest.importorskip("torch", reason="needs the nn extra: pip install 'csgene[nn]'")
    with pytest.raises(InputError, match="method_options must be a dict"):
        CompressedSensing("mlp", method_options=[("max_epochs", 2)]).fit(data.counts[:50])
    with pytest.raises(InputError, match="no parameter|unexpected keyword|max_epoch"):
        CompressedSensing("mlp", method_options={"max_epoch": 2}).fit(data.counts[:50])


def test_smaf_recovery_at_100_noiseless_measurements_reaches_095_and_beats_the_mean(data):
    """The learners issue's bar: SMAF at d = 100 with no noise, pearson_sample >= 0.95."""
    X = data.counts
    cs = CompressedSensing("smaf", n_measurements=100, sparsity=15, random_state=0).fit(X[:200])
    truth = cs.preprocessor_.transform(X[200:])
    mean_profile = cs.preprocessor_.transform(X[:200]).mean(axis=0)
    X_hat = cs.recover(cs.measure(X[200:], random_state=2), space="preprocessed")
    assert pearson_sample(truth, X_hat) >= 0.95
    assert pearson_sample(truth, X_hat) > pearson_sample(truth, np.tile(mean_profile, (60, 1)))
    assert pearson_sample_centered(truth, X_hat, mean_profile) > 0.3


def test_gene_alignment_by_name(data):
    X, names = data.counts, np.asarray(data.gene_names)
    cs = CompressedSensing("svd", n_measurements=30, n_modules=10, random_state=0).fit(X[:200], gene_names=names)
    perm = np.random.default_rng(3).permutation(X.shape[1])
    Y1 = cs.measure(X[200:], random_state=4)
    Y2 = cs.measure(X[200:, perm], gene_names=names[perm], random_state=4)
    np.testing.assert_allclose(Y1, Y2)
    with pytest.raises(InputError, match="not in the data"):
        cs.measure(X[200:, 1:], gene_names=names[1:])
    with pytest.raises(InputError, match="genes"):
        cs.measure(X[200:, 1:])


def test_bad_input(data, tmp_path):
    X = data.counts
    cs = CompressedSensing("svd", n_measurements=30, n_modules=10, random_state=0).fit(X[:200])
    with pytest.raises(InputError, match="measurements per sample"):
        cs.recover(np.ones((2, 31)))
    with pytest.raises(InputError, match="space"):
        cs.recover(np.ones((2, 30)), space="log")
    bad = X[:200].copy()
    bad[0, 0] = np.nan
    with pytest.raises(InputError, match="NaN"):
        CompressedSensing("svd", n_measurements=10).fit(bad)
    with pytest.raises(InputError, match="duplicates"):
        CompressedSensing("svd", n_measurements=10).fit(X[:50], gene_names=["g"] * X.shape[1])


def test_load_rejects_corrupt_foreign_and_future_files(data, tmp_path):
    (tmp_path / "junk.h5").write_bytes(b"not an hdf5 file at all")
    with pytest.raises(ModelFileError, match="not a readable HDF5"):
        CompressedSensing.load(tmp_path / "junk.h5")
    with h5py.File(tmp_path / "other.h5", "w") as fh:
        fh["x"] = np.ones(3)
    with pytest.raises(ModelFileError, match="not a csgene model"):
        CompressedSensing.load(tmp_path / "other.h5")
    cs = CompressedSensing("svd", n_measurements=10, n_modules=5, random_state=0).fit(data.counts[:100])
    path = cs.save(tmp_path / "m.h5")
    with h5py.File(path, "a") as fh:
        fh.attrs["format_version"] = 99
    with pytest.raises(ModelFileError, match="format 99"):
        CompressedSensing.load(path)
    path = cs.save(tmp_path / "m2.h5")
    with h5py.File(path, "a") as fh:
        del fh["method/components_"]
    with pytest.raises(ModelFileError, match="corrupt"):
        CompressedSensing.load(path)
    with pytest.raises(InputError, match="does not exist"):
        CompressedSensing.load(tmp_path / "missing.h5")
