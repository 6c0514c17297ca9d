"""Tests of csgene.neural: MLP decoder, VAE and GAN priors, shared torch helpers.

References: scikit-learn's RidgeCV and StandardScaler for the helpers, the mean predictor and a
known low-dimensional generator for the models. Small CPU problems; torch runs on one thread so
timings do not collapse when the 2-core machine is shared.
"""

from __future__ import annotations

import inspect
import subprocess
import sys
import time

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="csgene.neural needs torch: pip install 'csgene[nn]'")

from csgene.exceptions import InputError, MissingDependencyError, ModelFileError  # noqa: E402
from csgene.metrics import pearson_sample_centered  # noqa: E402
from sklearn.base import clone  # noqa: E402
from sklearn.exceptions import NotFittedError  # noqa: E402

from csgene.neural import GANPrior, MeasurementMLP, SMAFStack, VAEPrior  # noqa: E402
from csgene.neural import _networks, _training  # noqa: E402


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def pearson_sample(X, X_hat):
    Xc = X - X.mean(axis=1, keepdims=True)
    Hc = X_hat - X_hat.mean(axis=1, keepdims=True)
    return float(np.mean((Xc * Hc).sum(1) / np.sqrt((Xc**2).sum(1) * (Hc**2).sum(1) + 1e-30)))


def low_rank_problem(seed, n=260, genes=60, rank=4, d=15):
    rng = np.random.default_rng(seed)
    X = rng.gamma(2.0, 1.0, (n, rank)) @ rng.gamma(1.0, 1.0, (rank, genes))
    X += 0.05 * rng.standard_normal(X.shape)
    A = rng.standard_normal((d, genes))
    return X[:200], X[200:], A


def relu_generator_problem(seed, n_train=400, n_test=60, genes=200, latent=5, d=50):
    """x = relu(z B), z ~ N(0, I_5): data drawn from a known low-dimensional generator."""
    rng = np.random.default_rng(seed)
    B = rng.standard_normal((latent, genes))
    X = np.maximum(rng.standard_normal((n_train + n_test, latent)) @ B, 0.0)
    A = rng.standard_normal((d, genes)) / np.sqrt(d)
    return X[:n_train], X[n_train:], A


SMALL_MLP = dict(hidden=(64, 64), max_epochs=25, batch_size=32, patience=25)
SMALL_VAE = dict(latent_dim=5, hidden=(64, 64), max_epochs=80, batch_size=32, kl_warmup=10,
                 patience=20, n_restarts=2, recovery_steps=200)
SMALL_GAN = dict(latent_dim=4, hidden=(32, 32), max_epochs=6, batch_size=32, n_restarts=2,
                 recovery_steps=60)


@pytest.fixture(scope="module")
def fitted_mlp():
    X_train, X_test, A = low_rank_problem(0)
    mlp = MeasurementMLP(random_state=0, **SMALL_MLP).fit(X_train).fit_design(A, snr=10.0)
    return mlp, X_train, X_test, A


@pytest.fixture(scope="module")
def fitted_vae():
    X_train, X_test, A = relu_generator_problem(1)
    start = time.perf_counter()
    vae = VAEPrior(random_state=0, **SMALL_VAE).fit(X_train).fit_design(A)
    fit_seconds = time.perf_counter() - start
    return vae, X_train, X_test, A, fit_seconds


# ---------------------------------------------------------------- helpers vs references
def test_standardizer_matches_sklearn():
    from sklearn.preprocessing import StandardScaler

    X = np.random.default_rng(3).normal(2.0, 3.0, (50, 7))
    X[:, 2] = 4.0  # a constant column gets scale 1, as in scikit-learn
    ours = _training.Standardizer.fit(X)
    ref = StandardScaler().fit(X)
    np.testing.assert_allclose(ours.mean, ref.mean_, rtol=1e-6)
    np.testing.assert_allclose(ours.scale, ref.scale_, rtol=1e-6)


def test_residual_mlp_starts_at_ridge():
    from sklearn.linear_model import RidgeCV

    rng = np.random.default_rng(4)
    inputs, targets = rng.standard_normal((80, 6)), rng.standard_normal((80, 9))
    weight, bias = _networks.ridge_linear_init(inputs, targets)
    model = _networks.make_residual_mlp(6, 9, (16,), 0.0, (weight, bias))
    with torch.no_grad():
        ours = model(torch.as_tensor(inputs, dtype=torch.float32)).numpy()
    ref = RidgeCV(alphas=np.logspace(-3, 4, 15)).fit(inputs, targets).predict(inputs)
    np.testing.assert_allclose(ours, ref, atol=1e-4)


def test_linear_path_restricted_to_columns_starts_at_their_ridge_fit():
    from sklearn.linear_model import RidgeCV

    rng = np.random.default_rng(3)
    inputs, targets = rng.standard_normal((80, 7)), rng.standard_normal((80, 4))
    weight, bias = _networks.ridge_linear_init(inputs[:, [5, 6]], targets)
    model = _networks.make_residual_mlp(7, 4, (8,), 0.0, (weight, bias), linear_columns=[5, 6])
    assert tuple(model.linear.weight.shape) == (4, 2)
    with torch.no_grad():
        ours = model(torch.as_tensor(inputs, dtype=torch.float32)).numpy()
    ref = RidgeCV(alphas=np.logspace(-3, 4, 15)).fit(inputs[:, [5, 6]], targets).predict(inputs[:, [5, 6]])
    np.testing.assert_allclose(ours, ref, atol=1e-4)


@pytest.mark.parametrize("snr", [0.5, 3.0, np.inf])
def test_noise_has_cleary_norm(snr):
    X = torch.as_tensor(np.random.default_rng(5).gamma(2.0, 1.0, (30, 40)), dtype=torch.float32)
    gen = torch.Generator().manual_seed(0)
    noisy = _training.add_measurement_noise(X, snr, gen)
    expected = 0.0 if np.isinf(snr) else float(torch.linalg.norm(X)) / snr
    assert float(torch.linalg.norm(noisy - X)) == pytest.approx(expected, rel=1e-5, abs=1e-6)


def test_early_stopping_restores_best_weights():
    model = torch.nn.Linear(3, 1)
    data = torch.randn(20, 3)
    scripted = [5.0, 3.0, 1.0, 2.0, 4.0, 6.0, 0.5]  # best at epoch 2; patience 3 stops at epoch 5
    snapshots = []

    def batch_loss(idx, epoch):
        return (model(data[idx]) ** 2).mean()

    def val_loss(epoch):
        snapshots.append(model.weight.detach().clone())
        return scripted[epoch]

    history = _training.train_with_early_stopping(
        model, batch_loss, val_loss, 20, max_epochs=7, batch_size=8, lr=0.1, weight_decay=0.0,
        patience=3, generator=torch.Generator().manual_seed(0),
    )
    assert history.best_epoch == 2 and history.stopped_early and len(history.val) == 6
    assert torch.equal(model.weight, snapshots[2]) and not torch.equal(model.weight, snapshots[-1])


# ---------------------------------------------------------------- MLP
def test_mlp_training_reduces_loss(fitted_mlp):
    history = fitted_mlp[0].history_
    assert history["train"][-1] < history["train"][0]
    assert min(history["val"]) < history["val"][0]
    assert len(history["train"]) == len(history["val"]) > 1


def test_mlp_beats_mean_and_ridge_start(fitted_mlp):
    mlp, X_train, X_test, A = fitted_mlp
    rng = np.random.default_rng(11)
    noise = rng.standard_normal(X_test.shape)
    noise *= np.linalg.norm(X_test) / np.linalg.norm(noise) / 10.0
    X_hat = mlp.recover((X_test + noise) @ A.T)
    mean_pred = np.tile(X_train.mean(axis=0), (len(X_test), 1))
    mse, mse_mean = np.mean((X_hat - X_test) ** 2), np.mean((mean_pred - X_test) ** 2)
    assert mse < 0.3 * mse_mean
    assert pearson_sample(X_test, X_hat) > pearson_sample(X_test, mean_pred) + 0.05
    assert X_hat.shape == X_test.shape and X_hat.dtype == np.float64


@pytest.mark.parametrize("linear_skip", [True, False])
def test_mlp_same_seed_reproduces(linear_skip):
    X_train, X_test, A = low_rank_problem(2)
    params = dict(SMALL_MLP, max_epochs=3, linear_skip=linear_skip)
    a = MeasurementMLP(random_state=7, **params).fit(X_train).fit_design(A, snr=5.0)
    b = MeasurementMLP(random_state=7, **params).fit(X_train).fit_design(A, snr=5.0)
    c = MeasurementMLP(random_state=8, **params).fit(X_train).fit_design(A, snr=5.0)
    Y = X_test @ A.T
    np.testing.assert_array_equal(a.recover(Y), b.recover(Y))
    assert a.history_["train"] == b.history_["train"]
    assert not np.array_equal(a.recover(Y), c.recover(Y))


def test_mlp_save_load_round_trip(fitted_mlp, tmp_path):
    mlp, _, X_test, A = fitted_mlp
    path = tmp_path / "mlp.pt"
    mlp.save(path)
    loaded = MeasurementMLP.load(path, device="cpu")
    Y = X_test @ A.T
    np.testing.assert_array_equal(loaded.recover(Y), mlp.recover(Y))
    assert loaded.get_params()["hidden"] == mlp.hidden and loaded.history_ == mlp.history_
    # weights only: loads under torch's safe unpickler
    assert isinstance(torch.load(path, weights_only=True), dict)


# ---------------------------------------------------------------- VAE
def test_vae_recovers_known_generator(fitted_vae):
    vae, X_train, X_test, A, fit_seconds = fitted_vae
    start = time.perf_counter()
    X_hat = vae.recover(X_test @ A.T)
    recover_seconds = time.perf_counter() - start
    score = pearson_sample(X_test, X_hat)
    print(f"VAE relu-generator d=50: pearson_sample {score:.3f}, fit {fit_seconds:.1f} s, "
          f"recover {recover_seconds:.1f} s")
    assert score >= 0.9


def test_vae_training_reduces_loss(fitted_vae):
    history = fitted_vae[0].history_
    assert history["train"][-1] < history["train"][0]
    assert history["val"][history["best_epoch"]] < history["val"][0]


def test_vae_recovery_improves_on_initial_z(fitted_vae):
    vae, _, X_test, A, _ = fitted_vae
    X_hat = vae.recover(X_test @ A.T)
    initial, final = vae.last_recovery_["initial_loss"], vae.last_recovery_["final_loss"]
    assert np.all(final <= initial) and np.median(final) < 0.2 * np.median(initial)
    # z = 0 is one of the starts: G(0) is the profile recovery starts from
    with torch.no_grad():
        g0 = vae.generator_(torch.zeros(1, vae.latent_dim)).numpy()
    start = np.tile(g0 * vae.standardizer_.scale + vae.standardizer_.mean, (len(X_test), 1))
    assert pearson_sample(X_test, X_hat) > pearson_sample(X_test, start) + 0.1


def test_vae_sparse_deviation_runs_and_fits_measurements(fitted_vae):
    vae, _, X_test, A, _ = fitted_vae
    Y = X_test[:20] @ A.T
    base = vae.recover(Y)
    vae.set_params(sparse_deviation=True)
    try:
        dev = vae.recover(Y)
    finally:
        vae.set_params(sparse_deviation=False)
    # stepping off the range can only lower the measurement misfit
    assert np.linalg.norm(dev @ A.T - Y) <= np.linalg.norm(base @ A.T - Y) * 1.01
    assert pearson_sample(X_test[:20], dev) > 0.8


def test_vae_sparse_deviation_does_not_fit_the_noise(fitted_vae):
    """At SNR 2 the deviation must not soak up measurement noise: its L1 weight comes from the
    generator's own error (a Laplace prior of that variance), not from the misfit weights."""
    vae, _, X_test, A, _ = fitted_vae
    rng = np.random.default_rng(12)
    noise = rng.standard_normal(X_test.shape)
    noise *= np.linalg.norm(X_test) / np.linalg.norm(noise) / 2.0
    Y = (X_test + noise) @ A.T
    vae.fit_design(A, snr=2.0, random_state=0)
    try:
        base = vae.recover(Y)
        vae.set_params(sparse_deviation=True)
        dev = vae.recover(Y)
    finally:
        vae.set_params(sparse_deviation=False)
        vae.fit_design(A)
    mean = vae.standardizer_.mean
    assert pearson_sample_centered(X_test, dev, mean) >= pearson_sample_centered(X_test, base, mean) - 0.03


def test_vae_auto_prior_weight_is_the_best_on_held_out_profiles(fitted_vae):
    from csgene.measure import measure
    from csgene.neural.generative import PRIOR_WEIGHT_GRID

    vae, _, _, A, _ = fitted_vae
    assert vae.prior_weight == "auto"
    try:
        vae.fit_design(A, snr=2.0, random_state=5)
        errors = vae.prior_weight_errors_
        assert set(errors) == set(PRIOR_WEIGHT_GRID) and vae.prior_weight_ == min(errors, key=errors.get)
        # each error is that weight's recovery of the held-out profiles, measured with this design
        X_val = vae.validation_profiles_.astype(np.float64)
        Y_val = measure(X_val, A.astype(np.float32).astype(np.float64), snr=2.0,
                        random_state=np.random.default_rng(vae.recovery_seed_))
        vae.set_params(prior_weight=0.3).fit_design(A, snr=2.0, random_state=5)
        assert vae.prior_weight_ == 0.3 and vae.prior_weight_errors_ == {}
        np.testing.assert_allclose(np.mean((vae.recover(Y_val) - X_val) ** 2), errors[0.3], rtol=1e-5)
    finally:
        vae.set_params(prior_weight="auto").fit_design(A)
    with pytest.raises(InputError, match="prior_weight"):
        VAEPrior(prior_weight="best")._check_params()


def test_vae_save_load_and_seed(fitted_vae, tmp_path):
    vae, X_train, X_test, A, _ = fitted_vae
    path = tmp_path / "vae.pt"
    vae.save(path)
    loaded = VAEPrior.load(path, device="cpu")
    Y = X_test[:10] @ A.T
    np.testing.assert_array_equal(loaded.recover(Y), vae.recover(Y))
    params = dict(SMALL_VAE, max_epochs=3, kl_warmup=1, recovery_steps=20)
    a = VAEPrior(random_state=3, **params).fit(X_train[:100]).fit_design(A)
    b = VAEPrior(random_state=3, **params).fit(X_train[:100]).fit_design(A)
    np.testing.assert_array_equal(a.recover(Y), b.recover(Y))
    np.testing.assert_array_equal(a.sample(5, random_state=0), b.sample(5, random_state=0))


# ---------------------------------------------------------------- GAN
def test_gan_trains_records_and_round_trips(tmp_path):
    X_train, X_test, A = relu_generator_problem(6, n_train=120, genes=40, d=12)
    gan = GANPrior(random_state=0, **SMALL_GAN).fit(X_train).fit_design(A, snr=5.0)
    history = gan.history_
    assert len(history["train"]) == len(history["val"]) == SMALL_GAN["max_epochs"]
    assert np.all(np.isfinite(history["train"])) and np.all(np.isfinite(history["val"]))
    Y = X_test @ A.T
    X_hat = gan.recover(Y)
    assert np.all(gan.last_recovery_["final_loss"] < gan.last_recovery_["initial_loss"])
    path = tmp_path / "gan.pt"
    gan.save(path)
    np.testing.assert_array_equal(GANPrior.load(path, device="cpu").recover(Y), X_hat)
    again = GANPrior(random_state=0, **SMALL_GAN).fit(X_train).fit_design(A, snr=5.0)
    np.testing.assert_array_equal(again.recover(Y), X_hat)


def test_gan_prior_learns_a_known_generator_without_collapse():
    """WGAN-GP on data from a known 5-d generator: samples keep the data's spread and recovery from
    d = 50 reaches pearson_sample >= 0.9 (a collapsed generator sits near the mean profile)."""
    X_train, X_test, A = relu_generator_problem(1)
    gan = GANPrior(random_state=0, latent_dim=5, hidden=(64, 64), max_epochs=160, batch_size=32,
                   steps_per_epoch=13, n_restarts=2, recovery_steps=200).fit(X_train).fit_design(A)
    spread = gan.sample(400, random_state=0).std(axis=0).mean() / X_train.std(axis=0).mean()
    assert 0.7 < spread < 1.3
    X_hat = gan.recover(X_test @ A.T)
    mean_profile = np.tile(X_train.mean(axis=0), (len(X_test), 1))
    assert pearson_sample(X_test, X_hat) >= 0.9 > pearson_sample(X_test, mean_profile) + 0.1
    assert len(gan.history_["generator_loss"]) == 160


# ---------------------------------------------------------------- the method protocol
@pytest.mark.parametrize("cls", [MeasurementMLP, VAEPrior, GANPrior, SMAFStack])
def test_parameters_are_scikit_learns(cls):
    model = cls(max_epochs=7, random_state=3)
    params = model.get_params()
    assert set(params) == set(inspect.signature(cls).parameters)
    assert params["max_epochs"] == 7 and params["random_state"] == 3 and params["device"] == "auto"
    copy = clone(model)  # clone also fails if __init__ changes what it stores
    assert type(copy) is cls and copy is not model and copy.get_params() == params
    assert model.set_params(max_epochs=2, verbose=1) is model
    assert (model.max_epochs, model.verbose) == (2, 1) and copy.max_epochs == 7
    with pytest.raises(InputError, match="no parameter 'max_epoch'"):
        model.set_params(max_epoch=2)


@pytest.mark.parametrize("cls", [MeasurementMLP, VAEPrior, GANPrior, SMAFStack])
def test_unfitted_use_raises_scikit_learns_not_fitted_error(cls):
    model = cls()
    for call in (lambda: model.fit_design(np.eye(3)), lambda: model.recover(np.ones((2, 3)))):
        with pytest.raises(NotFittedError, match="fit") as info:
            call()
        assert isinstance(info.value, InputError)  # the command line prints it as one line


def test_set_state_restores_into_this_instance_and_returns_it(fitted_mlp, fitted_vae):
    for model, X_test, A in ((fitted_mlp[0], fitted_mlp[2], fitted_mlp[3]),
                             (fitted_vae[0], fitted_vae[2][:10], fitted_vae[3])):
        target = type(model)(hidden=(3,), max_epochs=1, device="cpu")
        assert target.set_state(model.get_state()) is target
        assert target.hidden == model.hidden and target.max_epochs == model.max_epochs
        assert target.device == "cpu"  # the instance's device, not the saved one
        np.testing.assert_array_equal(target.recover(X_test @ A.T), model.recover(X_test @ A.T))


# ---------------------------------------------------------------- errors
def test_errors_name_problem_and_fix(fitted_mlp, tmp_path):
    mlp, X_train, X_test, A = fitted_mlp
    with pytest.raises(InputError, match="measurements"):
        mlp.recover(np.ones((3, A.shape[0] + 1)))
    with pytest.raises(InputError, match="columns"):
        mlp.fit_design(np.ones((5, X_train.shape[1] + 2)))
    with pytest.raises(InputError, match="fit"):
        MeasurementMLP().recover(np.ones((2, 3)))
    with pytest.raises(InputError, match="fit"):
        VAEPrior().fit_design(A)
    with pytest.raises(InputError, match="NaN"):
        MeasurementMLP().fit(np.full((20, 4), np.nan))
    with pytest.raises(InputError, match="device"):
        MeasurementMLP(device="tpu").fit(X_train)
    with pytest.raises(InputError, match="dropout"):
        MeasurementMLP(dropout=1.5).fit(X_train)
    if not torch.cuda.is_available():
        with pytest.raises(InputError, match="cuda"):
            VAEPrior(device="cuda").fit(X_train)
    bogus = tmp_path / "bogus.pt"
    bogus.write_bytes(b"not a model")
    with pytest.raises(ModelFileError, match="save"):
        MeasurementMLP.load(bogus)
    mlp.save(tmp_path / "mlp.pt")
    with pytest.raises(ModelFileError, match="MeasurementMLP"):
        VAEPrior.load(tmp_path / "mlp.pt")


def test_missing_torch_gives_install_hint():
    code = (
        # block the import without leaving sys.modules['torch'] = None, which scipy's array-API
        # helpers trip over
        "import sys, importlib.abc\n"
        "class Block(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'torch' or name.startswith('torch.'):\n"
        "            raise ImportError('No module named torch (blocked by the test)')\n"
        "sys.meta_path.insert(0, Block())\n"
        "import csgene, csgene.neural\n"
        "from csgene.exceptions import MissingDependencyError\n"
        "for cls in (csgene.neural.MeasurementMLP, csgene.neural.VAEPrior, csgene.neural.GANPrior,\n"
        "            csgene.neural.SMAFStack):\n"
        "    try:\n"
        "        cls()\n"
        "    except MissingDependencyError as exc:\n"
        "        assert \"pip install 'csgene[nn]'\" in str(exc), exc\n"
        "    else:\n"
        "        raise SystemExit('no error for ' + cls.__name__)\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
    assert issubclass(MissingDependencyError, ImportError)
