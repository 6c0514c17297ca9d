"""Neural decoders (optional extra ``nn``: ``pip install 'csgene[nn]'``).

- :class:`MeasurementMLP`: an MLP trained to map measurements y straight to profiles x.
- :class:`VAEPrior`, :class:`GANPrior`: generative priors (Bora et al. 2017): train a generator
  G(z) on profiles, then recover by fitting z to the measurements.

This package imports without torch; constructing a model without torch raises
:class:`csgene.exceptions.MissingDependencyError` naming ``pip install 'csgene[nn]'``.
All methods follow the runner's protocol: ``fit(X_train)``, ``fit_design(A, snr, random_state)``,
``recover(Y)``.
"""

from .generative import GANPrior, VAEPrior
from .mlp import MeasurementMLP
from .stack import SMAFStack

__all__ = ["MeasurementMLP", "VAEPrior", "GANPrior", "SMAFStack", "make_neural_method"]


def make_neural_method(name, *, n_modules=150, sparsity=15, random_state=None, device="auto", **options):
    """Build the neural method ``name`` ("mlp", "smaf+mlp", "vae", "gan") for the runner."""
    if name == "mlp":
        return MeasurementMLP(random_state=random_state, device=device, **options)
    if name == "smaf+mlp":
        return SMAFStack(n_modules, sparsity=sparsity, random_state=random_state, device=device, **options)
    if name == "vae":
        return VAEPrior(random_state=random_state, device=device, **options)
    if name == "gan":
        return GANPrior(random_state=random_state, device=device, **options)
    from ..exceptions import InputError

    raise InputError(f"unknown neural method {name!r}; choose mlp, smaf+mlp, vae or gan.")
