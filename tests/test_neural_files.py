"""Model files written by csgene.neural as of format ``csgene.neural/1`` still load and recover.

The files in ``tests/data/neural_v1`` were written by ``tests/data/neural_v1/make.py`` before the
neural package was split into modules; ``expected.npz`` holds what each model recovered then.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="csgene.neural needs torch: pip install 'csgene[nn]'")

from csgene.neural import GANPrior, MeasurementMLP, VAEPrior  # noqa: E402
from csgene.pipeline import CompressedSensing  # noqa: E402

FILES = Path(__file__).parent / "data" / "neural_v1"


@pytest.fixture(scope="module")
def expected():
    with np.load(FILES / "expected.npz") as data:
        return dict(data)


@pytest.mark.parametrize("name, cls", [("mlp", MeasurementMLP), ("vae", VAEPrior), ("gan", GANPrior)])
def test_old_neural_files_load_and_recover_as_before(expected, name, cls):
    model = cls.load(FILES / f"{name}.pt", device="cpu")
    assert type(model) is cls and model.device == "cpu"
    np.testing.assert_allclose(model.recover(expected["Y"]), expected[name], rtol=1e-5, atol=1e-6)


def test_old_pipeline_file_with_a_neural_method_loads_and_recovers_as_before(expected):
    model = CompressedSensing.load(FILES / "mlp_pipeline.h5")
    assert isinstance(model.method_, MeasurementMLP)
    np.testing.assert_allclose(model.recover(expected["pipeline_Y"]), expected["pipeline"], rtol=1e-5, atol=1e-6)
