"""Shared validation and transform code of the dictionary learners.

Every learner is a scikit-learn estimator whose ``components_`` has shape (n_modules, n_genes)
and whose ``mean_`` (zeros unless ``center=True``) is added back by ``inverse_transform``.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from csgene_kernels.omp import codes_to_dense

from .._device import kernels
from .._validation import check_matrix, check_positive_int, check_same_width
from ..exceptions import InputError

#: ``recovery_kind_`` values read by the decoder layer.
LEAST_SQUARES = "least_squares"
OMP = "omp"


def check_training_matrix(X, *, nonnegative: bool, learner: str) -> np.ndarray:
    """Return X as a finite C-contiguous float32/float64 array, refusing negatives when asked.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_genes)
    nonnegative : bool
        Refuse negative entries (SNMF and SMAF need X >= 0).
    learner : str
        Estimator name used in messages.
    """
    X = check_matrix(X, "X", order="C")
    if nonnegative and X.size and X.min() < 0:
        row, col = np.argwhere(X < 0)[0]
        raise InputError(
            f"Negative values in data passed to {learner}: it needs nonnegative X, but X has negative "
            f"values (min {X.min():g}, first at sample {row}, gene {col}). Use a nonnegative "
            f"preprocessing such as log1p or per-gene minmax scaling, not centred or z-scored data "
            f"(set center=True on the learner instead)."
        )
    return X


def record_features(estimator, X_original, *, reset: bool) -> None:
    """scikit-learn's feature bookkeeping, after csgene's own checks passed on ``X_original``.

    ``reset=True`` (fit) sets ``n_features_in_`` and, for a DataFrame, ``feature_names_in_``;
    ``reset=False`` (transform) refuses another number of columns, and warns about other column
    names, as scikit-learn estimators do. Errors are :class:`InputError` (a ``ValueError``).
    """
    try:
        validate_data(estimator, X_original, reset=reset, skip_check_array=True)
    except InputError:
        raise
    except ValueError as exc:
        raise InputError(
            f"{exc} Arrays are (n_samples, n_genes): pass the genes {type(estimator).__name__} was "
            f"fitted on, in the same order."
        ) from exc


def check_n_components(n_components, n_samples: int, learner: str) -> int:
    """Return n_components as an int in [1, n_samples] or raise :class:`InputError`."""
    n_components = check_positive_int(n_components, "n_components")
    if n_components > n_samples:
        raise InputError(
            f"{learner} cannot learn n_components={n_components} modules from {n_samples} training "
            f"samples. Use n_components <= {n_samples} or more training samples."
        )
    return n_components


def check_sparsity(sparsity, n_components: int, name: str = "sparsity") -> int:
    """Return the per-sample number of nonzeros as an int in [1, n_components]."""
    sparsity = check_positive_int(sparsity, name)
    if sparsity > n_components:
        raise InputError(
            f"{name}={sparsity} nonzeros per sample exceeds n_components={n_components} modules. "
            f"Use {name} <= n_components or learn more modules."
        )
    return sparsity


def training_mean(X: np.ndarray, center: bool) -> np.ndarray:
    """Mean profile of X when centering, else zeros (same dtype)."""
    if center:
        return X.mean(axis=0)
    return np.zeros(X.shape[1], dtype=X.dtype)


def unit_rows(M: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (M with unit-norm rows, row norms); all-zero rows stay zero."""
    norms = np.linalg.norm(M, axis=1)
    safe = np.where(norms > 0, norms, 1.0).astype(M.dtype)
    return M / safe[:, None], norms


def match_score(true_components, learned_components) -> float:
    """Mean over true atoms of the best absolute cosine to any learned atom.

    1.0 means every true module is found exactly (up to sign and scale).

    Parameters
    ----------
    true_components : array-like of shape (n_true, n_genes)
    learned_components : array-like of shape (n_learned, n_genes)
    """
    true = check_matrix(true_components, "true_components", dtype=np.float64)
    learned = check_matrix(learned_components, "learned_components", dtype=np.float64)
    check_same_width(true, learned, "true_components", "learned_components")
    true_unit, _ = unit_rows(true)
    learned_unit, _ = unit_rows(learned)
    return float(np.abs(true_unit @ learned_unit.T).max(axis=1).mean())


class DictionaryMixin(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """``inverse_transform``, validation, tags and feature names shared by every learner.

    Learners accept arrays, DataFrames (whose columns become ``feature_names_in_``) and
    scipy sparse matrices (densified, see :func:`csgene._validation.densify`); complex input
    is refused. ``get_feature_names_out`` names the codes' columns ``<learner>0``,
    ``<learner>1``, ...; ``set_output(transform="pandas")`` makes ``transform`` return a
    DataFrame with those columns.
    """

    #: Whether the learner refuses negative training data (scikit-learn's ``positive_only`` tag).
    _nonnegative = False

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True  # densified
        tags.input_tags.positive_only = self._nonnegative
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags

    @property
    def _n_features_out(self) -> int:
        return self.components_.shape[0]

    def _check_fit(self, X) -> np.ndarray:
        """Validate training data (csgene's checks, then scikit-learn's feature bookkeeping)."""
        checked = check_training_matrix(X, nonnegative=self._nonnegative, learner=type(self).__name__)
        record_features(self, X, reset=True)
        return checked

    def _check_new(self, X, name: str = "X") -> np.ndarray:
        """Validate X against the fitted dictionary; returns it in the dictionary's dtype."""
        check_is_fitted(self, "components_")
        checked = check_matrix(X, name, order="C")
        record_features(self, X, reset=False)
        check_same_width(checked, self.components_, name, "components_")
        return np.ascontiguousarray(checked, dtype=self.components_.dtype)

    def inverse_transform(self, codes):
        """Profiles from codes: ``codes @ components_ + mean_``.

        Parameters
        ----------
        codes : array-like of shape (n_samples, ``n_components_``)

        Returns
        -------
        X : ndarray of shape (n_samples, n_genes)
        """
        check_is_fitted(self, "components_")
        codes = check_matrix(codes, "codes")
        if codes.shape[1] != self.components_.shape[0]:
            raise InputError(
                f"codes has {codes.shape[1]} columns but the dictionary has "
                f"{self.components_.shape[0]} modules. Pass codes of shape (n_samples, "
                f"{self.components_.shape[0]}), e.g. from transform()."
            )
        codes = codes.astype(self.components_.dtype, copy=False)
        return codes @ self.components_ + self.mean_


class OMPTransformMixin(DictionaryMixin):
    """``transform`` by batched OMP on the dictionary (sparse dictionaries)."""

    def _transform_sparsity(self) -> int:
        return self.sparsity_

    def transform(self, X):
        """Sparse codes of X by OMP with ``sparsity_`` atoms per sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_genes)

        Returns
        -------
        codes : ndarray of shape (n_samples, ``n_components_``)
        """
        X = self._check_new(X)
        return omp_codes(self.components_, X - self.mean_, self._transform_sparsity(),
                         kernels(getattr(self, "device", "cpu")))


def omp_codes(components: np.ndarray, X: np.ndarray, k: int, kern=None) -> np.ndarray:
    """Dense (n_samples, n_atoms) OMP codes of X on the rows of ``components``."""
    components = np.ascontiguousarray(components)
    X = np.ascontiguousarray(X, dtype=components.dtype)
    indices, values = (kern or kernels("cpu")).omp_direct(components, X, k)
    return codes_to_dense(indices, values, components.shape[0])
