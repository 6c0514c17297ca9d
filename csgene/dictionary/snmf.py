"""Sparse nonnegative matrix factorisation: X ≈ W H with L1 penalties on both factors.

Minimises ``½‖X − W H‖²_F + l1_activities·ΣW + l1_components·ΣH`` over W, H >= 0 by
multiplicative updates (the Numba kernel). After fitting, component rows are scaled to unit
norm and the activities scaled inversely, so W H is unchanged and the dictionary suits OMP.
"""

from __future__ import annotations

import numpy as np

from csgene_kernels.nmf import nmf_init

from .._device import kernels
from .._random import draw_seed
from .._validation import check_positive_float, check_positive_int
from ._base import (
    OMP,
    DictionaryMixin,
    check_n_components,
    unit_rows,
)


#: Duality-gap tolerance (relative to ‖x‖²) of ``transform``; cheap, so tighter than fitting.
TRANSFORM_TOL = 1e-10


def rescale_unit_components(W: np.ndarray, H: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Scale rows of H to unit norm and columns of W inversely (W H unchanged)."""
    H_unit, norms = unit_rows(H)
    return np.ascontiguousarray(W * norms.astype(W.dtype)), np.ascontiguousarray(H_unit)


class SparseNMF(DictionaryMixin):
    """Nonnegative factorisation with L1 sparsity on modules and activities.

    Parameters
    ----------
    n_components : int
        Number of modules (at most n_samples).
    l1_components : float, default=0.0
        L1 weight on the modules H (sparser gene modules). In the units of X.
    l1_activities : float, default=0.1
        L1 weight on the activities W (sparser samples). In the units of X.
    max_iter : int, default=200
        Multiplicative-update sweeps.
    tol : float, default=1e-4
        Relative objective decrease under which the updates stop.
    random_state : int, RandomState, Generator or None
        Seed of the initialisation.
    device : {"cpu", "cuda", "auto"}, default="cpu"
        Where the multiplicative updates and the transform's lasso run
        (:func:`csgene._device.kernels`).

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_genes)
        Nonnegative modules with unit-norm rows (rows no sample uses stay zero).
    activities_ : ndarray of shape (n_samples, n_components)
        Nonnegative activities, rescaled with the modules.
    objective_ : ndarray
        Objective after each update sweep (before the unit-norm rescaling).
    reconstruction_err_ : float
        ``‖X − activities_ @ components_‖_F``.
    mean_ : ndarray of shape (n_genes,)
        Zeros (SNMF does not center).
    n_iter_ : int
    n_components_ : int
    n_features_in_ : int
    recovery_kind_ : str
        ``"omp"``: decode with a sparse solver on the modules.
    """

    _nonnegative = True

    def __init__(
        self,
        n_components,
        *,
        l1_components=0.0,
        l1_activities=0.1,
        max_iter=200,
        tol=1e-4,
        random_state=None,
        device="cpu",
    ):
        self.n_components = n_components
        self.l1_components = l1_components
        self.l1_activities = l1_activities
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state
        self.device = device

    def fit(self, X, y=None):
        """Factor nonnegative X (n_samples, n_genes); returns self."""
        X = self._check_fit(X)
        n_components = check_n_components(self.n_components, X.shape[0], "SparseNMF")
        l1_components = check_positive_float(self.l1_components, "l1_components", allow_zero=True)
        l1_activities = check_positive_float(self.l1_activities, "l1_activities", allow_zero=True)
        max_iter = check_positive_int(self.max_iter, "max_iter")
        tol = check_positive_float(self.tol, "tol", allow_zero=True)
        seed = draw_seed(self.random_state)

        W, H = nmf_init(X, n_components, random_state=seed)
        W, H, n_iter, objective = kernels(self.device).nmf_mu(
            X, W, H, l1_W=l1_activities, l1_H=l1_components, max_iter=max_iter, tol=tol
        )
        self.activities_, self.components_ = rescale_unit_components(
            np.asarray(W, dtype=X.dtype), np.asarray(H, dtype=X.dtype)
        )
        self.objective_ = np.asarray(objective)
        self.reconstruction_err_ = float(np.linalg.norm(X - self.activities_ @ self.components_))
        self.mean_ = np.zeros(X.shape[1], dtype=X.dtype)
        self.n_iter_ = int(n_iter)
        self.n_components_ = n_components
        self.n_features_in_ = X.shape[1]
        self.recovery_kind_ = OMP
        return self

    def transform(self, X):
        """Nonnegative activities of X on the fixed modules.

        Solves ``min_w ½‖x − w H‖² + l1_activities·Σw, w >= 0`` per sample (the nonnegative
        lasso kernel, one target per sample).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_genes)

        Returns
        -------
        codes : ndarray of shape (n_samples, ``n_components_``)
        """
        X = self._check_new(X)
        H = self.components_
        gram = np.ascontiguousarray(H @ H.T)
        cov = np.ascontiguousarray(X @ H.T)
        x_sq_norms = np.einsum("ij,ij->i", X, X)
        codes, _ = kernels(self.device).nnlasso_gram(gram, cov, x_sq_norms, float(self.l1_activities),
                                                     tol=TRANSFORM_TOL)
        return np.ascontiguousarray(codes, dtype=X.dtype)
