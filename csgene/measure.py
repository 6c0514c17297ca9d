"""Measuring profiles through a design, with the noises of a real experiment.

A design ``A`` has shape (n_measurements, n_genes): row ``m`` holds the weight of every gene in
composite measurement ``m``. Measuring samples ``X`` (n_samples, n_genes) gives
``Y = X @ A.T`` (n_samples, n_measurements). Designs themselves are built in :mod:`csgene.design`.

Noise follows Cleary et al.: at signal-to-noise ratio ``snr``, Gaussian noise ``N`` with
``||N||_F = ||X||_F / snr`` exactly (:func:`add_noise`). :func:`measure` adds it to the
profiles before measuring, optionally adds noise of the same definition to the measurements
themselves, and can perturb the design weights (a lab's pipetting error).
"""

from __future__ import annotations

import hashlib
import math

import numpy as np

from ._random import as_generator
from ._validation import check_matrix, check_positive_float, check_same_width, check_snr


# --------------------------------------------------------------------------- noise
def add_noise(X, snr: float, random_state=None) -> np.ndarray:
    """Return ``X + N`` with Gaussian ``N`` scaled so that ``||N||_F = ||X||_F / snr``.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_genes)
    snr : float > 0
        Signal-to-noise ratio; ``np.inf`` adds nothing.
    random_state : int, numpy Generator/RandomState or None

    Returns
    -------
    ndarray of shape (n_samples, n_genes)
        A new array (``X`` is never modified).
    """
    X = check_matrix(X, "X")
    snr = check_snr(snr)
    return X + _scaled_noise(as_generator(random_state), X, snr)


def measure(
    X,
    A,
    *,
    snr: float = math.inf,
    measurement_snr: float = math.inf,
    design_noise: float = 0.0,
    random_state=None,
) -> np.ndarray:
    """Composite measurements ``Y = (X + N) A'^T (+ M)``.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_genes)
        Profiles.
    A : array-like of shape (n_measurements, n_genes)
        Nominal design.
    snr : float > 0
        SNR of the noise ``N`` added to the profiles (:func:`add_noise`); inf for none.
    measurement_snr : float > 0
        SNR of noise ``M`` added to the measurements, ``||M||_F = ||Y||_F / measurement_snr``.
    design_noise : float >= 0
        Relative pipetting error: the weights actually used are ``A * (1 + design_noise * Z)``
        with ``Z`` standard normal, drawn once for all samples (the composites are mixed once).
        Decoders still see the nominal ``A``.
    random_state : int, numpy Generator/RandomState or None
        Draws, in order: profile noise, design perturbation, measurement noise.

    Returns
    -------
    Y : ndarray of shape (n_samples, n_measurements)
    """
    X = check_matrix(X, "X")
    A = check_matrix(A, "A")
    check_same_width(X, A, "X", "design A")
    snr = check_snr(snr)
    measurement_snr = check_positive_float(measurement_snr, "measurement_snr", allow_inf=True)
    design_noise = check_positive_float(design_noise, "design_noise", allow_zero=True)
    rng = as_generator(random_state)
    noisy = X + _scaled_noise(rng, X, snr)
    if design_noise > 0:
        A = A * (1.0 + design_noise * rng.standard_normal(A.shape))
    Y = noisy @ A.T
    return Y + _scaled_noise(rng, Y, measurement_snr)


def design_fingerprint(design) -> str:
    """SHA-256 (hex) of a design's float64 bytes: recorded in every measurements file csgene writes."""
    return hashlib.sha256(np.ascontiguousarray(design, dtype=np.float64).tobytes()).hexdigest()


def _scaled_noise(rng: np.random.Generator, signal: np.ndarray, snr: float) -> np.ndarray:
    """Gaussian noise shaped like ``signal`` with ``||noise||_F = ||signal||_F / snr``."""
    if math.isinf(snr):
        return np.zeros_like(signal)
    noise = rng.standard_normal(signal.shape)
    target = np.linalg.norm(signal) / snr
    return (noise * (target / np.linalg.norm(noise))).astype(signal.dtype, copy=False)
