"""Neural decoders (optional extra ``nn``: ``pip install 'csgene[nn]'``).

- :class:`MeasurementMLP`: an MLP trained to map measurements y straight to profiles x.
- :class:`VAEPrior`, :class:`GANPrior`: generative priors (Bora et al. 2017): train a generator
  G(z) on profiles, then recover by fitting z to the measurements.

This package imports without torch; constructing a model without torch raises
:class:`csgene.exceptions.MissingDependencyError` naming ``pip install 'csgene[nn]'``.
They are registered by name ("mlp", "smaf+mlp", "vae", "gan") in :mod:`csgene.methods`.
All methods follow the runner's protocol: ``fit(X_train)``, ``fit_design(A, snr, random_state)``,
``recover(Y)``.
"""

from .generative import GANPrior, VAEPrior
from .mlp import MeasurementMLP
from .stack import SMAFStack

__all__ = ["MeasurementMLP", "VAEPrior", "GANPrior", "SMAFStack"]
