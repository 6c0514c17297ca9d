"""The Gaussian model a design is learned under, and the objective it is scored by.

Training profiles (in the preprocessed space the decoders work in) are summarised by a
low-rank-plus-diagonal Gaussian ``x ~ N(mu, Sigma)``, ``Sigma = F^T F + diag(psi)``
(:func:`csgene.lowrank.fit_background`), and measurements follow csgene's noise model:
``y = A (x + n)`` with ``n ~ N(0, sigma^2 I)``, ``sigma^2 = mean(X^2) / snr^2`` (the per-entry
power of :func:`csgene.measure.add_noise`).

A design is scored by the expected squared error it removes, the trace of the posterior
covariance reduction of the linear (posterior-mean) decoder:

    J(A) = tr(Sigma A^T K^-1 A Sigma),   K = A (Sigma + sigma^2 I) A^T.

J is what the ``gaussian`` baseline's decoder gains over predicting the mean, in expectation;
``J / tr(Sigma)`` is the fraction of the profile variance a design recovers (1 when every gene
is measured without noise). Because the noise enters before measuring, J depends only on the
row space of ``A``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from .._validation import check_matrix, check_snr
from ..exceptions import InputError
from ..lowrank import fit_background

#: Dense eigendecomposition of Sigma up to this many genes; an iterative solver beyond.
DENSE_EIGEN_MAX_GENES = 4000
#: Fewer training samples than this make a covariance estimate too noisy to trust (warned).
MIN_STABLE_SAMPLES = 20


@dataclass
class DesignPrior:
    """Gaussian model of profiles plus the profile-noise variance, as designs see them.

    Attributes
    ----------
    mean : ndarray of shape (n_genes,)
    factors : ndarray of shape (n_factors, n_genes)
        ``F`` in ``Sigma = F^T F + diag(psi)``.
    psi : ndarray of shape (n_genes,)
    noise_variance : float
        ``sigma^2`` of the profile noise (0 for noiseless).
    """

    mean: np.ndarray
    factors: np.ndarray
    psi: np.ndarray
    noise_variance: float

    @classmethod
    def fit(cls, X_train, snr: float, *, random_state=0) -> "DesignPrior":
        """Fit the prior to training profiles (n_samples, n_genes) for measurements at ``snr``."""
        X = check_matrix(X_train, "X_train").astype(np.float64)
        snr = check_snr(snr)
        n, g = X.shape
        if n < 2:
            raise InputError(
                f"a design is learned from training profiles, but X_train has {n} sample; "
                f"pass at least 2 (a stable covariance needs {MIN_STABLE_SAMPLES} or more)."
            )
        if n < MIN_STABLE_SAMPLES:
            warnings.warn(
                f"learning a design from {n} training samples: their covariance is a noisy "
                f"estimate, so the design may do no better than a random one. Use "
                f"{MIN_STABLE_SAMPLES} or more training samples.",
                UserWarning,
                stacklevel=3,
            )
        seed = int(np.random.default_rng(random_state).integers(2**31 - 1))
        background = fit_background(X, random_state=seed)
        noise_variance = 0.0 if np.isinf(snr) else float(np.mean(X**2)) / snr**2
        return cls(background["mean"], background["factors"], background["psi"], noise_variance)

    @property
    def n_genes(self) -> int:
        return self.mean.shape[0]

    def total_variance(self) -> float:
        """``tr(Sigma)``: the expected squared error of predicting the mean profile."""
        return float(np.einsum("qg,qg->", self.factors, self.factors) + self.psi.sum())

    def cov_times(self, A: np.ndarray) -> np.ndarray:
        """``A Sigma`` for a (d, n_genes) matrix ``A``, without forming ``Sigma``."""
        return (A @ self.factors.T) @ self.factors + A * self.psi

    def top_directions(self, n_directions: int) -> np.ndarray:
        """The ``n_directions`` leading eigenvectors of ``Sigma`` as rows, largest first."""
        g = self.n_genes
        k = min(n_directions, g)
        if g <= DENSE_EIGEN_MAX_GENES or k >= g - 1:
            sigma = self.factors.T @ self.factors + np.diag(self.psi)
            _, vectors = np.linalg.eigh(sigma)
            return np.ascontiguousarray(vectors[:, ::-1][:, :k].T)
        from scipy.sparse.linalg import LinearOperator, eigsh

        operator = LinearOperator((g, g), matvec=lambda v: self.cov_times(v.reshape(1, -1)).ravel(),
                                  dtype=np.float64)
        values, vectors = eigsh(operator, k=k, which="LA", v0=np.ones(g))
        return np.ascontiguousarray(vectors[:, np.argsort(values)[::-1]].T)

    def _system(self, A: np.ndarray):
        """``A Sigma``, ``K`` (regularised) and ``M = A Sigma^2 A^T`` for a design."""
        A_sigma = self.cov_times(A)
        K = A_sigma @ A.T + self.noise_variance * (A @ A.T)
        K = 0.5 * (K + K.T)
        K += 1e-10 * max(float(np.trace(K)), 1e-300) / K.shape[0] * np.eye(K.shape[0])
        return A_sigma, K, A_sigma @ A_sigma.T

    def error_reduction(self, A) -> float:
        """``J(A)``: expected squared error the posterior-mean decoder removes (see module doc)."""
        A = np.atleast_2d(np.asarray(A, dtype=np.float64))
        _, K, M = self._system(A)
        return float(np.trace(np.linalg.solve(K, M)))

    def recovered_fraction(self, A) -> float:
        """``J(A) / tr(Sigma)``: the fraction of profile variance a design recovers, in [0, 1]."""
        return self.error_reduction(A) / self.total_variance()

    def gradient(self, A) -> tuple[float, np.ndarray]:
        """``J(A)`` and its gradient with respect to ``A`` (same shape as ``A``).

        ``dJ/dA = 2 K^-1 (A Sigma^2 - M K^-1 (A Sigma + sigma^2 A))``.
        """
        A = np.atleast_2d(np.asarray(A, dtype=np.float64))
        A_sigma, K, M = self._system(A)
        K_inv = np.linalg.inv(K)
        A_sigma2 = self.cov_times(A_sigma)
        inner = A_sigma2 - M @ K_inv @ (A_sigma + self.noise_variance * A)
        return float(np.trace(K_inv @ M)), 2.0 * K_inv @ inner

    def posterior_gain(self, A) -> np.ndarray:
        """``Sigma A^T K^-1`` (n_genes, d): ``x_hat = mean + gain (y - A mean)``."""
        A = np.atleast_2d(np.asarray(A, dtype=np.float64))
        A_sigma, K, _ = self._system(A)
        return np.linalg.solve(K, A_sigma).T
