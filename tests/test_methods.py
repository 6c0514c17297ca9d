"""The method registry: every list of names is read from it, and make_method builds from it."""

import subprocess
import sys

import pytest

from csgene import methods, pipeline
from csgene.exceptions import InputError
from csgene.methods import REGISTRY, MethodEntry, make_method


def test_lists_are_read_from_the_registry():
    assert methods.METHODS == tuple(REGISTRY)
    groups = methods.CLASSICAL_METHODS + methods.NEURAL_METHODS + methods.REFERENCE_METHODS
    assert sorted(groups) == sorted(methods.METHODS)  # a partition: each name in exactly one group
    assert all(REGISTRY[n].needs_torch for n in methods.NEURAL_METHODS)
    assert not any(REGISTRY[n].in_default_run for n in methods.REFERENCE_METHODS)
    assert pipeline.SAVABLE_METHODS is methods.SAVABLE_METHODS
    assert set(methods.METHODS) - set(methods.SAVABLE_METHODS) == {"smaf+mlp"}
    assert set(methods.default_methods()) >= set(methods.CLASSICAL_METHODS)
    assert not set(methods.default_methods()) & set(methods.REFERENCE_METHODS)


def test_unknown_method_and_option_are_input_errors():
    with pytest.raises(InputError, match=r"unknown method 'nope'; available: mean, ridge"):
        make_method("nope")
    with pytest.raises(InputError, match=r"method 'svd' does not take option\(s\) \['bogus'\]"):
        make_method("svd", bogus=1)


@pytest.mark.parametrize("name", ["svd", "topk-svd", "ksvd", "snmf", "snmf-reference", "smaf", "smaf-centered",
                                  "smaf-reference"])
def test_device_reaches_the_decoder_and_the_learner(name):
    method = make_method(name, n_modules=5, sparsity=3, random_state=0, device="auto")
    assert method.device == "auto"
    assert getattr(method.learner, "device", "auto") == "auto"  # the SVDs have no kernels to place


def test_reference_presets_use_plain_omp():
    for name in methods.REFERENCE_METHODS:
        method = make_method(name, n_modules=5, sparsity=3)
        assert (method.decoder, method.noise_aware, method.shrink) == ("omp", False, False)
    assert make_method("smaf", n_modules=5, sparsity=3).decoder == "auto"


def test_a_new_method_is_one_registry_entry(monkeypatch):
    from csgene.baselines import MeanProfile

    monkeypatch.setitem(REGISTRY, "mean2", MethodEntry(lambda **kw: MeanProfile(), "the mean again"))
    assert isinstance(make_method("mean2"), MeanProfile)
    assert "mean2" in methods.describe_methods()


def test_cli_help_lists_every_method_with_its_description():
    out = subprocess.run([sys.executable, "-m", "csgene", "run", "--help"], capture_output=True, text=True,
                         check=True).stdout
    for name, entry in REGISTRY.items():
        assert f"{name} " in out and entry.description in out


SMALL_NEURAL = {"mlp": dict(hidden=(8,), max_epochs=2),
                "vae": dict(hidden=(8,), latent_dim=2, max_epochs=2, kl_warmup=1, recovery_steps=5),
                "gan": dict(hidden=(8,), latent_dim=2, max_epochs=1, steps_per_epoch=1, recovery_steps=5)}


@pytest.mark.parametrize("name", methods.SAVABLE_METHODS)
def test_one_protocol_set_state_restores_into_the_instance_and_returns_it(name):
    """Every savable method: scikit-learn parameters (clone works), and ``set_state`` on a fresh
    instance returns that instance, which then recovers exactly as the fitted one."""
    import numpy as np
    from sklearn.base import clone

    if REGISTRY[name].needs_torch:
        pytest.importorskip("torch", reason="needs the nn extra: pip install 'csgene[nn]'")
    rng = np.random.default_rng(0)
    X = rng.gamma(2.0, 1.0, (60, 3)) @ rng.gamma(1.0, 1.0, (3, 30))
    A = rng.standard_normal((8, 30))
    options = dict(n_modules=4, sparsity=2, random_state=0, device="cpu", **SMALL_NEURAL.get(name, {}))
    fitted = make_method(name, **options).fit(X[:50]).fit_design(A, snr=5.0, random_state=1)
    assert type(clone(fitted)) is type(fitted)
    fresh = make_method(name, **options)
    assert fresh.set_state(fitted.get_state()) is fresh
    Y = X[50:] @ A.T
    np.testing.assert_allclose(fresh.recover(Y), fitted.recover(Y), rtol=1e-12, atol=1e-12)
