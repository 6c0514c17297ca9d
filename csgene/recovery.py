"""Decoders: recover module activities from composite measurements, then whole profiles.

A sample x (n_genes,) is measured as y = A x (A: (n_measurements, n_genes)). With a module
dictionary U (``components_``, (n_modules, n_genes)) and x ≈ w U, the measurements are
y ≈ D w with the *effective dictionary* D = A Uᵀ of shape (n_measurements, n_modules).
A decoder finds w from y and D, and x̂ = w U.

Decoders (all batched over samples):

- ``"omp"``: k-sparse orthogonal matching pursuit on D with unit-normalised atoms (the seed
  paper's and Cleary et al.'s decoder), optionally followed by a ridge refit on the selected
  support (Cleary et al.'s ``use_ridge``).
- ``"nnlasso"``: nonnegative lasso, as the later CISI work decodes.
- ``"lasso"``: signed lasso (for bases with signed atoms).
- ``"lstsq"``: least squares through a pseudo-inverse, w = y (D⁺)ᵀ (the seed's W = Y(AU)⁻¹ for
  SVD bases), with an optional ridge penalty.

Mean-aware decoding (``mean`` given): measurements of the mean profile A μ are subtracted
first and μ added back, so the sparsity budget is spent on the sample's own deviation.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted


from ._device import kernels
from ._validation import check_matrix, check_positive_float, check_positive_int, check_same_width
from .exceptions import InputError

DECODERS = ("omp", "nnlasso", "lasso", "lstsq")


class SparseDecoder(BaseEstimator):
    """Decode measurements with a module dictionary and a measurement design.

    Parameters
    ----------
    method : {"omp", "nnlasso", "lasso", "lstsq"}
        Decoding algorithm (see module docstring).
    sparsity : int
        Number of active modules per sample for ``"omp"`` (Cleary et al.'s and the seed's k = 15).
    alpha : float
        Lasso penalty for ``"lasso"``/``"nnlasso"``, relative to each sample's λ_max = max|Dᵀy|:
        λ = alpha · λ_max, so the choice does not depend on the scale of the data.
    ridge : float
        For ``"omp"``: ridge penalty of a refit on the selected support, relative to the mean
        diagonal of the support's Gram matrix (0 disables the refit). For ``"lstsq"``: ridge
        penalty of the least-squares solve, relative to the mean diagonal of DᵀD.
    max_iter, tol : int, float
        Coordinate-descent settings of the lasso decoders.
    noise_variance : float
        Per-gene variance σ² of the noise added to profiles before measuring (0 = none).
        OMP then stops a sample early once its residual reaches the expected energy of the
        measured noise, σ²‖A‖²_F, instead of fitting noise with the remaining atoms.
    activity_variance : array-like of shape (n_modules,), optional
        Second moment τ²_j of each module's activity when active (from the training codes).
        With ``noise_variance`` > 0, OMP's coefficients are refitted on the selected support as
        the posterior mean under w_j ~ N(0, τ²_j) and per-measurement noise variance
        σ_y² = σ²‖A‖²_F / d: a ridge with penalty σ_y² / τ²_j per atom. Least squares on the
        support would inflate the recovered deviations with noise.
    device : {"cpu", "cuda", "auto"}
        Where the OMP, lasso and reconstruction kernels run.

    Attributes
    ----------
    dictionary_ : ndarray of shape (n_measurements, n_modules)
        Effective dictionary D = A Uᵀ.
    components_ : ndarray of shape (n_modules, n_genes)
    mean_ : ndarray of shape (n_genes,) or None
    """

    def __init__(self, method="omp", *, sparsity=15, alpha=0.01, ridge=0.0, max_iter=500, tol=1e-6,
                 noise_variance=0.0, activity_variance=None, device="cpu"):
        self.device = device
        self.noise_variance = noise_variance
        self.activity_variance = activity_variance
        self.method = method
        self.sparsity = sparsity
        self.alpha = alpha
        self.ridge = ridge
        self.max_iter = max_iter
        self.tol = tol

    def fit(self, design, components, mean=None):
        """Prepare the effective dictionary for a design.

        Parameters
        ----------
        design : array-like of shape (n_measurements, n_genes)
        components : array-like of shape (n_modules, n_genes)
        mean : array-like of shape (n_genes,), optional
            Profile to subtract before decoding and add back after (mean-aware decoding).
        """
        if self.method not in DECODERS:
            raise InputError(f"unknown decoder {self.method!r}; choose one of {', '.join(DECODERS)}.")
        U = check_matrix(components, "components")
        A = check_matrix(design, "design", dtype=U.dtype)
        check_same_width(A, U, "design", "components")
        if self.method == "omp":
            check_positive_int(self.sparsity, "sparsity", maximum=U.shape[0])
        check_positive_float(self.ridge, "ridge", allow_zero=True)
        check_positive_float(self.noise_variance, "noise_variance", allow_zero=True)
        check_positive_float(self.alpha, "alpha", allow_zero=self.method not in ("lasso", "nnlasso"))
        self.kernels_ = kernels(self.device)
        self.components_ = np.ascontiguousarray(U)
        self.design_ = np.ascontiguousarray(A)
        if mean is not None:
            mean = np.asarray(mean, dtype=U.dtype).ravel()
            if mean.shape[0] != U.shape[1]:
                raise InputError(f"mean has {mean.shape[0]} genes but components have {U.shape[1]}.")
        self.mean_ = mean
        self.dictionary_ = A @ U.T
        norms = np.linalg.norm(self.dictionary_, axis=0)
        self.atom_norms_ = norms
        # atoms that measure to zero can never be recovered; keep them as zero columns
        self.atom_scale_ = np.where(norms > 0, norms, 1.0)
        self.residual_tol_ = float(self.noise_variance) * float(np.sum(A.astype(np.float64) ** 2))
        self.atom_penalty_ = None
        if self.activity_variance is not None and self.residual_tol_ > 0:
            tau2 = np.asarray(self.activity_variance, dtype=np.float64).ravel()
            if tau2.shape[0] != U.shape[0]:
                raise InputError(f"activity_variance has {tau2.shape[0]} entries for {U.shape[0]} modules.")
            noise_y = self.residual_tol_ / A.shape[0]
            prior = np.nan_to_num(tau2) * norms.astype(np.float64) ** 2
            # modules never active in training (or measuring to zero) are effectively excluded
            self.atom_penalty_ = np.where(prior > 0, noise_y / np.where(prior > 0, prior, 1.0), 1e30)
        self.normalized_ = np.ascontiguousarray(self.dictionary_ / self.atom_scale_)
        self.gram_ = np.ascontiguousarray(self.normalized_.T @ self.normalized_)
        if self.method == "lstsq":
            D = self.dictionary_
            if self.ridge > 0:
                G = D.T @ D
                lam = self.ridge * np.trace(G) / G.shape[0]
                self.pinv_ = np.linalg.solve(G + lam * np.eye(G.shape[0], dtype=G.dtype), D.T)
            else:
                self.pinv_ = np.linalg.pinv(D)
        return self

    def _centered(self, Y):
        check_is_fitted(self, "dictionary_")
        Y = check_matrix(Y, "Y (measurements)", dtype=self.components_.dtype, order="C")
        if Y.shape[1] != self.design_.shape[0]:
            raise InputError(
                f"Y has {Y.shape[1]} measurements per sample but the design has "
                f"{self.design_.shape[0]} rows; Y must be (n_samples, n_measurements) measured "
                f"with this design."
            )
        if self.mean_ is not None:
            Y = Y - self.design_ @ self.mean_
        return Y

    def decode(self, Y):
        """Return sparse codes ``(indices, values)`` of shape (n_samples, k) each, or for
        the dense decoders (``lstsq``, lasso types) a dense (n_samples, n_modules) array."""
        Y = self._centered(Y)
        return self._decode_centered(Y)

    def _decode_centered(self, Y):
        D = self.normalized_
        dty = np.ascontiguousarray(Y @ D)
        if self.method == "omp":
            k = min(self.sparsity, D.shape[1])
            if self.residual_tol_ > 0:
                y_sq = np.einsum("ij,ij->i", Y, Y, dtype=np.float64)
                indices, values = self.kernels_.omp_gram(self.gram_, dty, k, tol=self.residual_tol_, y_sq_norms=y_sq)
            else:
                indices, values = self.kernels_.omp_gram(self.gram_, dty, k)
            if self.atom_penalty_ is not None:
                values = ridge_refit(self.gram_, dty, indices, atom_penalty=self.atom_penalty_)
            elif self.ridge > 0:
                values = ridge_refit(self.gram_, dty, indices, self.ridge)
            return indices, self._unnormalize(indices, values)
        if self.method == "lstsq":
            return Y @ self.pinv_.T
        lam_max = np.abs(dty).max(axis=1) if self.method == "lasso" else np.maximum(dty.max(axis=1), 0)
        lam = (self.alpha * lam_max).astype(D.dtype)
        y_sq = np.einsum("ij,ij->i", Y, Y)
        if self.method == "nnlasso":
            coef, _ = self.kernels_.nnlasso_gram(self.gram_, dty, y_sq, lam, max_iter=self.max_iter, tol=self.tol)
        else:
            # signed lasso = nonnegative lasso on [D, -D]
            gram2 = np.block([[self.gram_, -self.gram_], [-self.gram_, self.gram_]])
            cov2 = np.ascontiguousarray(np.hstack([dty, -dty]))
            both, _ = self.kernels_.nnlasso_gram(np.ascontiguousarray(gram2), cov2, y_sq, lam,
                                   max_iter=self.max_iter, tol=self.tol)
            m = D.shape[1]
            coef = both[:, :m] - both[:, m:]
        return coef / self.atom_scale_

    def _unnormalize(self, indices, values):
        scale = np.where(indices >= 0, self.atom_scale_[np.maximum(indices, 0)], 1.0)
        return (values / scale).astype(values.dtype)

    def recover(self, Y):
        """Recover profiles (n_samples, n_genes) from measurements Y (n_samples, n_measurements)."""
        codes = self.decode(Y)
        if isinstance(codes, tuple):
            X_hat = self.kernels_.reconstruct(codes[0], codes[1], self.components_)
        else:
            X_hat = codes @ self.components_
        if self.mean_ is not None:
            X_hat += self.mean_
        return X_hat


def ridge_refit(gram, dty, indices, ridge=0.0, *, atom_penalty=None):
    """Refit the coefficients of each sample on its selected support with a ridge penalty.

    Solves (G_SS + P) w_S = (Dᵀy)_S for every sample at once (batched small solves), where
    P = ρ I with ρ = ``ridge`` × mean diagonal of G_SS, or P = diag(``atom_penalty[S]``).
    Unused slots (index -1) get coefficient 0.

    Parameters
    ----------
    gram : ndarray (n_atoms, n_atoms)
    dty : ndarray (n_samples, n_atoms)
    indices : ndarray (n_samples, k) int, -1 for unused slots
    ridge : float
        Relative penalty (ignored when ``atom_penalty`` is given).
    atom_penalty : ndarray (n_atoms,), optional
        Absolute penalty per atom.
    """
    used = indices >= 0
    idx = np.where(used, indices, 0)
    G_S = gram[idx[:, :, None], idx[:, None, :]]
    G_S = np.where(used[:, :, None] & used[:, None, :], G_S, 0.0)
    if atom_penalty is not None:
        penalty = np.asarray(atom_penalty, dtype=np.float64)[idx]
    else:
        diag = np.einsum("nii->ni", G_S)
        n_used = np.maximum(used.sum(axis=1), 1)
        penalty = np.repeat((ridge * diag.sum(axis=1) / n_used)[:, None], indices.shape[1], axis=1)
    k = indices.shape[1]
    eye = np.eye(k, dtype=np.float64)
    # unused slots: identity rows so the system stays nonsingular and their solution is 0
    G_S = G_S + eye * np.where(used, penalty, 1.0)[:, None, :]
    rhs = np.where(used, np.take_along_axis(dty, idx, axis=1), 0.0)
    values = np.linalg.solve(G_S, rhs[:, :, None])[:, :, 0]
    return np.where(used, values, 0.0).astype(gram.dtype)
