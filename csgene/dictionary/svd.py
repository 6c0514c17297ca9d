"""SVD bases: the top right singular vectors of the training matrix.

:class:`SVDDictionary` is the seed's "SVD" method; :class:`TopKSVD` is what the seed called
"k-SVD": only the top-k singular vectors (k = sparsity), not Aharon's K-SVD (see
:class:`csgene.dictionary.KSVD`).
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.linalg
from sklearn.utils.extmath import randomized_svd, svd_flip

from .._random import check_random_state
from .._validation import check_positive_int
from ..exceptions import InputError
from ._base import LEAST_SQUARES, DictionaryMixin, training_mean

SVD_SOLVERS = ("auto", "full", "randomized")


def choose_svd_solver(svd_solver: str, shape: tuple[int, int], n_components: int) -> str:
    """Resolve ``"auto"``: exact LAPACK for small inputs or many components, else randomized."""
    if svd_solver not in SVD_SOLVERS:
        raise InputError(f"svd_solver must be one of {SVD_SOLVERS}, got {svd_solver!r}.")
    if svd_solver != "auto":
        return svd_solver
    if max(shape) <= 500 or n_components >= 0.8 * min(shape):
        return "full"
    return "randomized"


def top_right_singular_vectors(X: np.ndarray, n_components: int, solver: str, random_state):
    """Return (singular values, right singular vectors (n_components, n_genes)), signs fixed.

    The sign of each vector makes its largest-magnitude entry positive (deterministic output).
    """
    if solver == "full":
        U, s, Vt = scipy.linalg.svd(X, full_matrices=False, check_finite=False)
        U, s, Vt = U[:, :n_components], s[:n_components], Vt[:n_components]
    else:
        U, s, Vt = randomized_svd(X, n_components, random_state=check_random_state(random_state))
    _, Vt = svd_flip(U, Vt, u_based_decision=False)
    return s.astype(X.dtype, copy=False), np.ascontiguousarray(Vt, dtype=X.dtype)


class SVDDictionary(DictionaryMixin):
    """Top right singular vectors of the training matrix as an orthonormal basis.

    Parameters
    ----------
    n_components : int
        Basis size. Values above ``min(n_samples, n_genes)`` are clamped to it with a
        warning (as the seed did), since an SVD has no more directions.
    center : bool, default=False
        Subtract the training mean profile first (PCA). The seed did not center.
    svd_solver : {"auto", "full", "randomized"}, default="auto"
        ``"full"``: exact LAPACK SVD; ``"randomized"``: scikit-learn's randomized_svd;
        ``"auto"``: full when the matrix is small (max side <= 500) or ``n_components`` is at
        least 80% of the rank bound, randomized otherwise.
    random_state : int, RandomState, Generator or None
        Seed of the randomized solver.

    Attributes
    ----------
    components_ : ndarray of shape (``n_components_``, n_genes)
        Orthonormal rows, sorted by decreasing singular value.
    singular_values_ : ndarray of shape (``n_components_``,)
    mean_ : ndarray of shape (n_genes,)
        Training mean if ``center`` else zeros.
    n_components_ : int
    n_features_in_ : int
    recovery_kind_ : str
        ``"least_squares"``: decode by least squares on the basis.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).random((40, 30))
    >>> svd = SVDDictionary(5).fit(X)
    >>> svd.components_.shape
    (5, 30)
    """

    def __init__(self, n_components, *, center=False, svd_solver="auto", random_state=None):
        self.n_components = n_components
        self.center = center
        self.svd_solver = svd_solver
        self.random_state = random_state

    def _requested_components(self) -> int:
        return check_positive_int(self.n_components, "n_components")

    def fit(self, X, y=None):
        """Compute the top singular vectors of X (n_samples, n_genes); returns self."""
        X = self._check_fit(X)
        requested = self._requested_components()
        n_components = min(requested, *X.shape)
        if n_components < requested:
            warnings.warn(
                f"{type(self).__name__}: {requested} components requested but X of shape {X.shape} "
                f"has at most {n_components}; using {n_components}.",
                UserWarning,
                stacklevel=2,
            )
        self.mean_ = training_mean(X, self.center)
        solver = choose_svd_solver(self.svd_solver, X.shape, n_components)
        self.singular_values_, self.components_ = top_right_singular_vectors(
            X - self.mean_, n_components, solver, self.random_state
        )
        self.n_components_ = n_components
        self.n_features_in_ = X.shape[1]
        self.svd_solver_ = solver
        self.recovery_kind_ = LEAST_SQUARES
        return self

    def transform(self, X):
        """Coordinates of X on the orthonormal basis (its least-squares codes).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_genes)

        Returns
        -------
        codes : ndarray of shape (n_samples, ``n_components_``)
        """
        X = self._check_new(X)
        return (X - self.mean_) @ self.components_.T


class TopKSVD(SVDDictionary):
    """The seed's "k-SVD": only the top ``sparsity`` singular vectors (runner name "topk-svd").

    Not Aharon's K-SVD dictionary learning (that is :class:`csgene.dictionary.KSVD`): this is
    an :class:`SVDDictionary` whose size equals the sparsity used for decoding.

    Parameters
    ----------
    sparsity : int, default=15
        Number of singular vectors kept.
    center, svd_solver, random_state
        As in :class:`SVDDictionary`.

    Attributes
    ----------
    components_, singular_values_, mean_, n_components_, recovery_kind_
        As in :class:`SVDDictionary`.
    """

    def __init__(self, sparsity=15, *, center=False, svd_solver="auto", random_state=None):
        self.sparsity = sparsity
        self.center = center
        self.svd_solver = svd_solver
        self.random_state = random_state

    def _requested_components(self) -> int:
        return check_positive_int(self.sparsity, "sparsity")
