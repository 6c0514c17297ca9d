"""Neural decoders (optional extra ``nn``: ``pip install 'csgene[nn]'``).

- :class:`MeasurementMLP`: an MLP trained to map measurements y straight to profiles x.
- :class:`VAEPrior`, :class:`GANPrior`: generative priors (Bora et al. 2017): train a generator
  G(z) on profiles, then recover by fitting z to the measurements.

This package imports without torch; constructing a model without torch raises
:class:`csgene.exceptions.MissingDependencyError` naming ``pip install 'csgene[nn]'``.
They are registered by name ("mlp", "smaf+mlp", "vae", "gan") in :mod:`csgene.methods`.
All methods follow the runner's protocol: ``fit(X_train)``, ``fit_design(A, snr, random_state)``,
``recover(Y)``, ``get_state()``, ``set_state(state)`` (returns self); their parameters are
scikit-learn's (``get_params``, ``set_params``, ``sklearn.base.clone``).

Modules, one job each: ``mlp``, ``stack``, ``vae``, ``gan`` (one per method); ``_map_recovery``
(the latent-space MAP recovery the VAE and GAN share); ``_base`` (the estimator base);
``_files`` (the weights-only model-file format); ``_regression``, ``_training``, ``_networks``
(the training toolkit); ``_torch`` (the lazy torch import, tensors, seeding).
"""

from .gan import GANPrior
from .mlp import MeasurementMLP
from .stack import SMAFStack
from .vae import VAEPrior

__all__ = ["MeasurementMLP", "VAEPrior", "GANPrior", "SMAFStack"]
