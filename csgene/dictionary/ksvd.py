"""K-SVD dictionary learning (Aharon, Elad & Bruckstein 2006).

Alternates OMP sparse coding (the batched Numba kernel) with rank-1 atom updates: for each
atom, the SVD of the residual restricted to the samples that use it gives the new unit-norm
atom and those samples' coefficients. Unused atoms are replaced by the worst-represented
sample. Runner name "ksvd"; the seed's top-k singular vectors are :class:`TopKSVD`.
"""

from __future__ import annotations

import time

import numpy as np
import scipy.linalg

from csgene_kernels.omp import codes_to_dense
from csgene_kernels.threads import limit_threads

from .._device import kernels
from .._progress import report
from .._random import check_random_state
from .._validation import check_positive_float, check_positive_int
from ..exceptions import InputError
from ._base import (
    OMP,
    OMPTransformMixin,
    check_n_components,
    check_sparsity,
    training_mean,
    unit_rows,
)

KSVD_INITS = ("data", "random")


def initial_atoms(X: np.ndarray, n_components: int, init: str, rng) -> np.ndarray:
    """Unit-norm starting atoms: distinct training samples (``"data"``) or Gaussian noise."""
    if init not in KSVD_INITS:
        raise InputError(f"init must be one of {KSVD_INITS}, got {init!r}.")
    if init == "data":
        atoms = X[rng.choice(X.shape[0], size=n_components, replace=False)].copy()
    else:
        atoms = rng.standard_normal((n_components, X.shape[1])).astype(X.dtype)
    atoms, norms = unit_rows(atoms)
    zero = norms == 0
    if zero.any():  # all-zero training samples cannot be atoms
        noise = rng.standard_normal((int(zero.sum()), X.shape[1])).astype(X.dtype)
        atoms[zero] = unit_rows(noise)[0]
    return np.ascontiguousarray(atoms)


def relative_error(residual: np.ndarray, x_norm: float) -> float:
    """‖residual‖_F / ‖X‖_F (0 when X is zero)."""
    return float(np.linalg.norm(residual) / x_norm) if x_norm > 0 else 0.0


def update_atoms(X, atoms, codes, residual):
    """One K-SVD sweep over the atoms, in place; returns the number of replaced atoms.

    ``residual`` must equal ``X - codes @ atoms`` on entry and is kept equal to it.
    """
    n_replaced = 0
    taken = np.zeros(X.shape[0], dtype=bool)  # samples already used to replace an atom
    for j in range(atoms.shape[0]):
        users = np.flatnonzero(codes[:, j])
        if users.size == 0:
            n_replaced += replace_unused_atom(atoms, j, residual, taken)
            continue
        restricted = residual[users] + np.outer(codes[users, j], atoms[j])
        left, singular, right = scipy.linalg.svd(restricted, full_matrices=False, check_finite=False)
        atoms[j] = right[0]
        codes[users, j] = singular[0] * left[:, 0]
        residual[users] = restricted - np.outer(codes[users, j], atoms[j])
    return n_replaced


def replace_unused_atom(atoms, j, residual, taken) -> int:
    """Replace atom j by the normalised residual of the worst-represented untaken sample."""
    errors = np.einsum("ij,ij->i", residual, residual)
    errors[taken] = -1.0
    worst = int(np.argmax(errors))
    if errors[worst] <= 0:
        return 0
    taken[worst] = True
    atoms[j] = residual[worst] / np.sqrt(errors[worst])
    return 1


class KSVD(OMPTransformMixin):
    """K-SVD dictionary learning with OMP sparse coding.

    Parameters
    ----------
    n_components : int
        Number of atoms (at most n_samples).
    sparsity : int, default=15
        Nonzeros per sample in the OMP coding step (at most n_components).
    max_iter : int, default=10
        Coding + update sweeps.
    tol : float, default=1e-4
        Stop when the relative error improves by less than this fraction in one sweep.
    center : bool, default=False
        Learn on deviations from the training mean (``mean_``, added back by
        ``inverse_transform``), so the sparsity budget is not spent on the average profile.
    init : {"data", "random"}, default="data"
        Starting atoms: distinct normalised training samples, or Gaussian noise.
    random_state : int, RandomState, Generator or None
    device : {"cpu", "cuda", "auto"}, default="cpu"
        Where the OMP coding step runs (:func:`csgene._device.kernels`).

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_genes)
        Unit-norm atoms.
    activities_ : ndarray of shape (n_samples, n_components)
        Training codes (at most ``sparsity`` nonzeros per row).
    mean_ : ndarray of shape (n_genes,)
    error_ : ndarray of shape (``n_iter_``,)
        Relative error ``‖X - codes @ components_‖ / ‖X‖`` after each sweep's atom update.
    history_ : list of dict
        Per sweep: ``coding_error`` (after OMP), ``update_error`` (after the atom update),
        ``n_replaced`` (unused atoms replaced), ``seconds``.
    n_iter_ : int
    n_components_ : int
    sparsity_ : int
    n_features_in_ : int
    recovery_kind_ : str
        ``"omp"``.
    """

    def __init__(
        self,
        n_components,
        *,
        sparsity=15,
        max_iter=10,
        tol=1e-4,
        center=False,
        init="data",
        random_state=None,
        device="cpu",
    ):
        self.n_components = n_components
        self.sparsity = sparsity
        self.max_iter = max_iter
        self.tol = tol
        self.center = center
        self.init = init
        self.random_state = random_state
        self.device = device

    def fit(self, X, y=None):
        """Learn the dictionary from X (n_samples, n_genes); returns self."""
        X = self._check_fit(X)
        n_components = check_n_components(self.n_components, X.shape[0], "KSVD")
        sparsity = check_sparsity(self.sparsity, n_components)
        max_iter = check_positive_int(self.max_iter, "max_iter")
        tol = check_positive_float(self.tol, "tol", allow_zero=True)
        rng = check_random_state(self.random_state)
        kern = kernels(self.device)

        self.mean_ = training_mean(X, self.center)
        Xc = np.ascontiguousarray(X - self.mean_)
        x_norm = float(np.linalg.norm(Xc))
        atoms = initial_atoms(Xc, n_components, self.init, rng)
        self.history_ = []
        for _ in range(max_iter):
            start = time.perf_counter()
            indices, values = kern.omp_direct(atoms, Xc, sparsity)
            codes = codes_to_dense(indices, values, n_components)
            residual = Xc - codes @ atoms
            coding_error = relative_error(residual, x_norm)
            # many small SVDs: threaded BLAS only adds spin-wait overhead here
            with limit_threads(blas_threads=1):
                n_replaced = update_atoms(Xc, atoms, codes, residual)
            update_error = relative_error(residual, x_norm)
            self.history_.append(
                {
                    "coding_error": coding_error,
                    "update_error": update_error,
                    "n_replaced": n_replaced,
                    "seconds": time.perf_counter() - start,
                }
            )
            converged = n_replaced == 0 and self._converged(tol)
            report("K-SVD iterations", max_iter if converged else len(self.history_), max_iter)
            if converged:
                break
        self.components_ = atoms
        self.activities_ = codes
        self.error_ = np.array([h["update_error"] for h in self.history_])
        self.n_iter_ = len(self.history_)
        self.n_components_ = n_components
        self.sparsity_ = sparsity
        self.n_features_in_ = X.shape[1]
        self.recovery_kind_ = OMP
        return self

    def _converged(self, tol: float) -> bool:
        if len(self.history_) < 2:
            return False
        previous = self.history_[-2]["update_error"]
        current = self.history_[-1]["update_error"]
        return previous - current <= tol * max(previous, np.finfo(float).tiny)
