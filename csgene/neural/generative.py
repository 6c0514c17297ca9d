"""Generative priors for compressed sensing (Bora et al. 2017): the VAE and WGAN-GP priors.

Each lives in a module of its own (:mod:`.vae`, :mod:`.gan`); the MAP recovery in the
generator's latent space they share is in :mod:`._map_recovery`. This module keeps the names
importable from ``csgene.neural.generative``.
"""

from ._map_recovery import MAX_SELECTION_SAMPLES, PRIOR_WEIGHT_GRID
from .gan import GANPrior
from .vae import VAEPrior

__all__ = ["VAEPrior", "GANPrior", "PRIOR_WEIGHT_GRID", "MAX_SELECTION_SAMPLES"]
