"""Sparse nonnegative matrix factorisation: X ≈ W H with L1 penalties on both factors.

Minimises ``½‖X − W H‖²_F + l1_activities·ΣW + l1_components·ΣH`` over W, H >= 0, by one of
two solvers:

* ``"mu"`` (default): multiplicative updates of both factors (the Numba kernel), H free in scale.
* ``"bcd"``: with every module in the unit ball (‖h_j‖ <= 1), alternating an exact per-sample
  nonnegative lasso for W and block coordinate descent on H from ``WᵀW`` and ``XᵀW``
  (Mairal et al. 2010; :mod:`csgene.dictionary.snmf_bcd`). It needs one pass over the samples
  per outer iteration, which is what an out-of-core fit can afford (:mod:`csgene.outofcore.snmf`).

After fitting, component rows are scaled to unit norm and the activities scaled inversely, so
W H is unchanged and the dictionary suits OMP.
"""

from __future__ import annotations

import numpy as np

from csgene_kernels.nmf import nmf_init

from .._device import kernels
from .._random import draw_seed
from .._validation import check_positive_float, check_positive_int
from ..exceptions import InputError
from ._base import (
    OMP,
    DictionaryMixin,
    check_n_components,
    unit_rows,
)
from .snmf_bcd import activity_sums, converged, initial_modules, objective_from_sums, update_activities, update_modules

#: The solvers of :class:`SparseNMF`.
SOLVERS = ("mu", "bcd")
#: ``max_iter=None``: multiplicative-update sweeps ("mu") or outer iterations ("bcd").
DEFAULT_MAX_ITER = {"mu": 200, "bcd": 20}


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
        L1 weight on the activities W (sparser samples). In the units of X. With
        ``solver="bcd"`` the modules have norm <= 1 while the penalty applies, so the same
        weight means something else than with ``"mu"``, whose modules are free in scale.
    solver : {"mu", "bcd"}, default="mu"
        ``"mu"``: multiplicative updates. ``"bcd"``: modules in the unit ball, alternating an
        exact nonnegative lasso per sample (W) and block coordinate descent on the modules
        from ``WᵀW`` and ``XᵀW`` (Mairal et al. 2010, Algorithm 2, with positivity); one pass
        over the samples per outer iteration, so it is the solver of the out-of-core fit.
    max_iter : int or None, default=None
        Multiplicative-update sweeps (``"mu"``, None: 200) or outer iterations (``"bcd"``,
        None: 20).
    tol : float, default=1e-4
        Relative objective decrease under which the iterations stop.
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
        Objective after each update sweep (``"mu"``) or outer iteration (``"bcd"``), before the
        final unit-norm rescaling.
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
        solver="mu",
        max_iter=None,
        tol=1e-4,
        random_state=None,
        device="cpu",
    ):
        self.n_components = n_components
        self.l1_components = l1_components
        self.l1_activities = l1_activities
        self.solver = solver
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state
        self.device = device

    def fit(self, X, y=None):
        """Factor nonnegative X (n_samples, n_genes); returns self."""
        X = self._check_fit(X)
        n_components = check_n_components(self.n_components, X.shape[0], "SparseNMF")
        solver, l1_activities, l1_components, max_iter, tol = self._check_params()
        seed = draw_seed(self.random_state)

        if solver == "bcd":
            W, H, n_iter, objective = self._fit_bcd(X, n_components, l1_activities, l1_components, max_iter, tol,
                                                    seed)
        else:
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

    def _check_params(self):
        """(solver, l1_activities, l1_components, max_iter, tol), checked; max_iter resolved."""
        if self.solver not in SOLVERS:
            raise InputError(f"solver must be one of {SOLVERS}, got {self.solver!r}.")
        l1_components = check_positive_float(self.l1_components, "l1_components", allow_zero=True)
        l1_activities = check_positive_float(self.l1_activities, "l1_activities", allow_zero=True)
        max_iter = (DEFAULT_MAX_ITER[self.solver] if self.max_iter is None
                    else check_positive_int(self.max_iter, "max_iter"))
        tol = check_positive_float(self.tol, "tol", allow_zero=True)
        return self.solver, l1_activities, l1_components, max_iter, tol

    def _fit_bcd(self, X, n_components, l1_activities, l1_components, max_iter, tol, seed):
        """Alternate the exact W-step and the H-step from sums (:mod:`csgene.dictionary.snmf_bcd`)."""
        kern = kernels(self.device)
        # the mean from per-gene float64 sums, as an out-of-core fit has it
        x_mean = float(X.sum(axis=0, dtype=np.float64).sum()) / X.size
        H = initial_modules(x_mean, X.shape[1], n_components, seed, X.dtype)
        x_sq_norms = np.einsum("ij,ij->i", X, X, dtype=np.float64)
        x_sq_total = float(x_sq_norms.sum())
        W, objective = None, []
        for _ in range(max_iter):
            W = update_activities(kern, X, H, x_sq_norms, l1_activities, W)
            sums = activity_sums(X, W)
            H, _ = update_modules(sums["gram"], sums["cov"], H, l1=l1_components)
            objective.append(objective_from_sums(x_sq_total, sums["gram"], sums["cov"], sums["w_sum"], H,
                                                 l1_activities, l1_components)[0])
            if converged(objective, tol):
                break
        return W, H, len(objective), objective

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
