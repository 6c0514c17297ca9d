"""Write tiny neural model files with csgene.neural as of commit d0ca387 (format csgene.neural/1)."""
import sys
from pathlib import Path
import numpy as np
import torch
torch.set_num_threads(1)
from csgene.neural import MeasurementMLP, VAEPrior, GANPrior
from csgene.pipeline import CompressedSensing

out = Path(sys.argv[1]); out.mkdir(parents=True, exist_ok=True)
rng = np.random.default_rng(0)
X = rng.gamma(2.0, 1.0, (40, 3)) @ rng.gamma(1.0, 1.0, (3, 12))
A = rng.standard_normal((5, 12))
Y = X[:4] @ A.T
expected = {"Y": Y}
models = {
    "mlp": MeasurementMLP(hidden=(8,), max_epochs=2, batch_size=16, random_state=0, device="cpu").fit(X).fit_design(A, snr=5.0),
    "vae": VAEPrior(2, hidden=(8,), max_epochs=2, kl_warmup=1, n_restarts=1, recovery_steps=5, random_state=0, device="cpu").fit(X).fit_design(A, snr=5.0),
    "gan": GANPrior(2, hidden=(8,), max_epochs=1, steps_per_epoch=1, n_critic=1, n_restarts=1, recovery_steps=5, random_state=0, device="cpu").fit(X).fit_design(A),
}
for name, model in models.items():
    model.save(out / f"{name}.pt")
    expected[name] = model.recover(Y)
cs = CompressedSensing("mlp", n_measurements=5, random_state=0, device="cpu",
                       method_options={"hidden": [8], "max_epochs": 2}).fit(rng.poisson(5.0, (40, 12)).astype(float))
cs.save(out / "mlp_pipeline.h5")
Yc = cs.measure(rng.poisson(5.0, (3, 12)).astype(float), random_state=1)
expected["pipeline_Y"] = Yc
expected["pipeline"] = cs.recover(Yc)
np.savez(out / "expected.npz", **expected)
