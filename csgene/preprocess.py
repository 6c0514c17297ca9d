"""Fitted preprocessing transforms and chains of them.

Every transform is a scikit-learn transformer (``fit`` on training data only, then
``transform`` / ``inverse_transform``) working on arrays of shape (n_samples, n_genes), and
can report its fitted parameters as a dict of numpy arrays (:meth:`get_state`) and be rebuilt
from that dict (:meth:`from_state`), so models can be saved to HDF5 or ``.npz`` without pickle.

Chains are built from short names with :func:`make_preprocessor`::

    prep = make_preprocessor("clip99+log1p+minmax").fit(X_train)
    Z = prep.transform(X_test)
    X_back = prep.inverse_transform(Z)

Names: ``none``, ``minmax``, ``log1p``, ``log1p-cpm``, ``clipNN`` (upper clip at the NN-th
percentile of the whole training matrix, e.g. ``clip99`` or ``clip99.5``).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable, Mapping

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

from ._validation import check_matrix, check_positive_float
from .exceptions import InputError, ModelFileError

__all__ = [
    "Identity",
    "MinMaxScaler",
    "PercentileClip",
    "Log1p",
    "Log1pCPM",
    "PreprocessChain",
    "make_preprocessor",
    "looks_log_transformed",
    "VALID_NAMES",
]

#: Names accepted by :func:`make_preprocessor` (``clipNN`` stands for any percentile).
VALID_NAMES = ("none", "minmax", "log1p", "log1p-cpm", "clipNN")

_CLIP_PATTERN = re.compile(r"^clip(\d+(?:\.\d+)?)$")

#: Data whose largest value is below this and that hold non-integer values look already
#: log-transformed: ``log1p`` of any realistic count (even 10^12) stays below 30, while raw or
#: CPM-normalised counts of a sample set reach far higher values (see :func:`looks_log_transformed`).
LOGGED_MAX = 30.0

#: Log-space headroom above a gene's training maximum before the inverse of a log step clips:
#: log(2), so a recovered value is at most about twice the largest training value of its gene.
LOG_MARGIN = float(np.log(2.0))


class _StatefulTransform(TransformerMixin, BaseEstimator):
    """Shared machinery: input checks and the array-dict state of a fitted transform.

    Subclasses set ``kind`` (their name in a chain), ``_fitted_arrays`` (fitted attributes
    that are arrays, besides ``n_features_in_``) and ``_requires_nonnegative``.
    """

    kind: str = ""
    _fitted_arrays: tuple[str, ...] = ()
    #: fitted arrays that files written by older csgene versions lack (loaded as None, with a warning)
    _optional_arrays: tuple[str, ...] = ()
    _requires_nonnegative: bool = False

    # -- parameters and input --------------------------------------------------------------
    def _check_params(self) -> None:
        """Validate ``__init__`` parameters (called by ``fit`` and ``from_state``)."""

    def _check_input(self, X, method: str, *, reset: bool = False) -> np.ndarray:
        label = f"X (input of {type(self).__name__}.{method})"
        nonnegative = self._requires_nonnegative and method != "inverse_transform"
        X = check_matrix(X, label, nonnegative=nonnegative)
        if reset:
            self.n_features_in_ = X.shape[1]
        elif X.shape[1] != self.n_features_in_:
            raise InputError(
                f"{label} has {X.shape[1]} genes (columns) but {type(self).__name__} was fitted on "
                f"{self.n_features_in_}. Pass data with the training genes in the training order; "
                f"arrays are (n_samples, n_genes)."
            )
        return X

    def _fit_input(self, X) -> np.ndarray:
        self._check_params()
        return self._check_input(X, "fit", reset=True)

    def _fitted_input(self, X, method: str) -> np.ndarray:
        check_is_fitted(self)
        return self._check_input(X, method)

    # -- state -----------------------------------------------------------------------------
    def get_state(self) -> dict[str, np.ndarray]:
        """Return the parameters and fitted attributes as a dict of numpy arrays.

        Returns
        -------
        state : dict of str -> ndarray
            Constructor parameters as 0-d arrays, ``n_features_in_`` and the fitted arrays
            (copies). :meth:`from_state` rebuilds an equal transform from it.
        """
        check_is_fitted(self)
        state = {name: np.asarray(value) for name, value in self.get_params(deep=False).items()}
        state["n_features_in_"] = np.asarray(self.n_features_in_, dtype=np.int64)
        for attr in self._fitted_arrays:
            if getattr(self, attr) is not None:
                state[attr] = np.array(getattr(self, attr), copy=True)
        return state

    @classmethod
    def from_state(cls, state: Mapping[str, np.ndarray]):
        """Rebuild a fitted transform from :meth:`get_state`'s dict.

        Parameters
        ----------
        state : mapping of str -> array-like
            As returned by :meth:`get_state` (possibly after a round trip through HDF5/npz).

        Returns
        -------
        transform : instance of this class, fitted.

        Raises
        ------
        ModelFileError
            If a key is missing or an array has the wrong shape.
        """
        params = {name: _state_scalar(state, name, cls) for name in cls._get_param_names()}
        transform = cls(**params)
        try:
            transform._check_params()
        except InputError as exc:
            raise ModelFileError(f"Saved {cls.__name__} state has invalid parameters: {exc}") from exc
        n_features = _state_scalar(state, "n_features_in_", cls)
        if isinstance(n_features, bool) or not isinstance(n_features, int) or n_features < 1:
            raise ModelFileError(
                f"Saved {cls.__name__} state has n_features_in_={n_features!r}; expected a positive "
                f"integer. The model file is corrupt: refit and save it again."
            )
        transform.n_features_in_ = n_features
        for attr in cls._fitted_arrays:
            if attr in cls._optional_arrays and attr not in state:
                warnings.warn(
                    f"this model file predates {cls.__name__}.{attr} (the training range in the log "
                    f"space), so recoveries in original units are not clipped to it and can explode "
                    f"for samples unlike the training data. Refit and save the model to get the bound.",
                    UserWarning, stacklevel=2,
                )
                setattr(transform, attr, None)
                continue
            value = np.asarray(_state_value(state, attr, cls), dtype=np.float64)
            if value.shape not in transform._allowed_shapes(attr) or not np.all(np.isfinite(value)):
                raise ModelFileError(
                    f"Saved {cls.__name__} state has {attr} of shape {value.shape} (or non-finite "
                    f"values); expected finite values of shape one of "
                    f"{transform._allowed_shapes(attr)}. Refit and save the model again."
                )
            setattr(transform, attr, value)
        return transform

    def _allowed_shapes(self, attr: str) -> tuple[tuple[int, ...], ...]:
        return ((self.n_features_in_,),)


def _state_value(state: Mapping, key: str, cls) -> np.ndarray:
    try:
        return state[key]
    except KeyError:
        raise ModelFileError(
            f"Saved {cls.__name__} state lacks '{key}' (keys found: {sorted(state)}). The file was "
            f"written by another csgene version or is corrupt: refit and save it again."
        ) from None


def _state_scalar(state: Mapping, key: str, cls):
    value = np.asarray(_state_value(state, key, cls))
    if value.size != 1:
        raise ModelFileError(
            f"Saved {cls.__name__} state has '{key}' of shape {value.shape}; expected a single "
            f"value. Refit and save the model again."
        )
    value = value.reshape(()).item()
    return value.decode() if isinstance(value, bytes) else value


def _float_dtype(X: np.ndarray) -> np.dtype:
    """Output dtype: float32 stays float32, everything else becomes float64."""
    return X.dtype if X.dtype == np.float32 else np.dtype(np.float64)


class Identity(_StatefulTransform):
    """The ``"none"`` step: returns its input as a float array, unchanged.

    Attributes
    ----------
    n_features_in_ : int
        Number of genes seen in ``fit``.
    """

    kind = "none"

    def fit(self, X, y=None):
        """Record the number of genes. Returns ``self``."""
        self._fit_input(X)
        return self

    def transform(self, X):
        """Return ``X`` unchanged (as a float array)."""
        return self._fitted_input(X, "transform")

    def inverse_transform(self, X):
        """Return ``X`` unchanged (as a float array)."""
        return self._fitted_input(X, "inverse_transform")


class MinMaxScaler(_StatefulTransform):
    """Scale each gene to [0, 1] using its training minimum and maximum (the seed's scaling).

    A gene constant in the training data (max == min) maps to 0, and ``inverse_transform``
    returns that constant. New data outside the training range maps outside [0, 1]; it is
    not clipped, so ``inverse_transform(transform(X)) == X`` for every non-constant gene.

    Attributes
    ----------
    data_min_ : ndarray of shape (n_genes,)
        Training minimum per gene.
    data_range_ : ndarray of shape (n_genes,)
        Training ``max - min`` per gene (0 for constant genes).
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np
    >>> scaler = MinMaxScaler().fit(np.array([[0.0, 5.0], [2.0, 5.0]]))
    >>> scaler.transform(np.array([[1.0, 5.0]]))
    array([[0.5, 0. ]])
    """

    kind = "minmax"
    _fitted_arrays = ("data_min_", "data_range_")

    def fit(self, X, y=None):
        """Learn the per-gene minimum and range from training data ``X``. Returns ``self``."""
        X = self._fit_input(X)
        self.data_min_ = X.min(axis=0).astype(np.float64)
        self.data_range_ = X.max(axis=0).astype(np.float64) - self.data_min_
        return self

    def transform(self, X):
        """Return ``(X - data_min_) / data_range_``, with constant genes mapped to 0."""
        X = self._fitted_input(X, "transform")
        # ranges so small that 1/range overflows (subnormals) count as constant genes
        scale = np.divide(1.0, self.data_range_, out=np.zeros_like(self.data_range_),
                          where=self.data_range_ > 1.0 / np.finfo(np.float64).max)
        return ((X - self.data_min_) * scale).astype(_float_dtype(X), copy=False)

    def inverse_transform(self, X):
        """Return ``X * data_range_ + data_min_`` (constant genes get their constant back)."""
        X = self._fitted_input(X, "inverse_transform")
        return (X * self.data_range_ + self.data_min_).astype(_float_dtype(X), copy=False)


class PercentileClip(_StatefulTransform):
    """Clip values above a percentile learned from training data (lossy; inverse is identity).

    Cleary et al.'s code clips the expression matrix at the 99th percentile of all its
    entries (``per_gene=False``); ``per_gene=True`` uses each gene's own percentile across
    training samples instead. Only the upper tail is clipped.

    Parameters
    ----------
    percentile : float, default=99
        Percentile in (0, 100].
    per_gene : bool, default=False
        One threshold per gene instead of one for the whole matrix.

    Attributes
    ----------
    threshold_ : ndarray of shape () or (n_genes,)
        The clipping threshold(s).
    n_features_in_ : int

    Notes
    -----
    Clipping cannot be undone: ``inverse_transform`` returns its input unchanged.
    """

    kind = "clip"
    _fitted_arrays = ("threshold_",)

    def __init__(self, percentile=99, per_gene=False):
        self.percentile = percentile
        self.per_gene = per_gene

    def _check_params(self) -> None:
        check_positive_float(self.percentile, "percentile")
        if self.percentile > 100:
            raise InputError(f"percentile must be in (0, 100], got {self.percentile}.")
        if not isinstance(self.per_gene, (bool, np.bool_)):
            raise InputError(f"per_gene must be True or False, got {self.per_gene!r}.")

    def _allowed_shapes(self, attr: str) -> tuple[tuple[int, ...], ...]:
        return ((self.n_features_in_,),) if self.per_gene else ((),)

    def fit(self, X, y=None):
        """Learn the threshold(s) from training data ``X``. Returns ``self``."""
        X = self._fit_input(X)
        axis = 0 if self.per_gene else None
        self.threshold_ = np.asarray(np.percentile(X, float(self.percentile), axis=axis),
                                     dtype=np.float64)
        return self

    def transform(self, X):
        """Return ``min(X, threshold_)``."""
        X = self._fitted_input(X, "transform")
        return np.minimum(X, self.threshold_).astype(_float_dtype(X), copy=False)

    def inverse_transform(self, X):
        """Return ``X`` unchanged: clipped values cannot be restored."""
        return self._fitted_input(X, "inverse_transform")


def looks_log_transformed(X) -> bool:
    """Whether a nonnegative matrix looks already log-transformed (so ``log1p`` would log it twice).

    The heuristic: every value is below :data:`LOGGED_MAX` (30) **and** some values are not whole
    numbers. Counts are whole numbers; normalised counts (CPM, TPM) of a realistic sample set
    reach values far above 30; ``log1p`` of counts, or scanpy's ``normalize_total`` +
    ``log1p``, stay below about 15. Small whole-number matrices (sparse single-cell counts with
    a maximum below 30) are not flagged, nor is an empty matrix.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_genes)

    Returns
    -------
    bool
    """
    X = np.asarray(X)
    if X.size == 0 or X.max() >= LOGGED_MAX:
        return False
    return bool(np.any(X != np.round(X)))


def warn_if_log_transformed(X, kind: str) -> None:
    """Warn (``UserWarning``) when ``X`` looks already log-transformed and step ``kind`` logs it."""
    if looks_log_transformed(X):
        warnings.warn(
            f"the data look already log-transformed (largest value {float(np.max(X)):.3g} < {LOGGED_MAX:g} "
            f"and non-integer values), but preprocess={kind!r} takes their log again. Fit on raw counts "
            f"(for AnnData, usually the layer 'counts': layer='counts'), or pass preprocess='none' "
            f"(or 'minmax') for data that are already logged.",
            UserWarning, stacklevel=4,
        )


class _BoundedLog(_StatefulTransform):
    """A log step whose inverse clips at each gene's training maximum (plus :data:`LOG_MARGIN`).

    ``expm1`` of a log-space value beyond anything seen in training (a decoder extrapolating
    from noisy or foreign measurements) gives numbers orders of magnitude above the data,
    e.g. 1e13 counts for a gene whose largest training count is 9,000. The inverse therefore
    clips to ``log_max_ + LOG_MARGIN`` first: at most about twice the gene's training maximum.
    """

    _fitted_arrays = ("log_max_",)
    _optional_arrays = ("log_max_",)

    def _record_range(self, Z: np.ndarray) -> None:
        self.log_max_ = Z.max(axis=0).astype(np.float64) if Z.shape[0] else np.zeros(Z.shape[1])

    def _clip(self, X: np.ndarray) -> np.ndarray:
        bound = getattr(self, "log_max_", None)
        return X if bound is None else np.minimum(X, bound + LOG_MARGIN)


class Log1p(_BoundedLog):
    """``log(1 + X)`` of nonnegative data (counts); the inverse is ``exp(Z) - 1``.

    The inverse clips ``Z`` at each gene's training maximum plus :data:`LOG_MARGIN` (see
    :class:`_BoundedLog`); within that range it is exact: recovered values below 0 in log
    space give values in (-1, 0) in count space.

    Attributes
    ----------
    log_max_ : ndarray of shape (n_genes,)
        Largest ``log1p`` value of each gene in the training data.
    n_features_in_ : int
    """

    kind = "log1p"
    _requires_nonnegative = True

    def fit(self, X, y=None):
        """Check ``X`` (nonnegative) and record each gene's log-space maximum. Returns ``self``."""
        X = self._fit_input(X)
        warn_if_log_transformed(X, self.kind)
        self._record_range(np.log1p(X, dtype=np.float64))
        return self

    def transform(self, X):
        """Return ``log1p(X)``; negative input raises :class:`~csgene.exceptions.InputError`."""
        X = self._fitted_input(X, "transform")
        return np.log1p(X, dtype=_float_dtype(X))

    def inverse_transform(self, X):
        """Return ``expm1(min(X, log_max_ + LOG_MARGIN))``."""
        X = self._fitted_input(X, "inverse_transform")
        return np.expm1(self._clip(X), dtype=_float_dtype(X))


class Log1pCPM(_BoundedLog):
    """``log(1 + scale * X / library_size)`` per sample: log counts per million by default.

    The library size of a sample is its row sum. A sample whose counts are all zero maps to
    zeros (no division by zero).

    The transformed data no longer hold the library sizes, so ``inverse_transform`` returns
    counts per ``scale`` (CPM by default) unless it is given ``library_size`` (an array with
    one value per sample, one number for all, or ``"mean"`` for the mean training library
    size), in which case it returns counts. Nothing is remembered between calls: the result
    depends on the arguments only. Like :class:`Log1p`, the inverse clips at each gene's
    training maximum in the log space plus :data:`LOG_MARGIN`.

    Parameters
    ----------
    scale : float, default=1e6
        Counts per ``scale`` reads (1e6: CPM; 1e4: the common "CP10k").

    Attributes
    ----------
    mean_library_size_ : ndarray of shape ()
        Mean training library size (used by ``library_size="mean"``).
    log_max_ : ndarray of shape (n_genes,)
        Largest log1p-CPM value of each gene in the training data.
    n_features_in_ : int
    """

    kind = "log1p-cpm"
    _fitted_arrays = ("mean_library_size_", "log_max_")
    _requires_nonnegative = True

    def __init__(self, scale=1e6):
        self.scale = scale

    def _check_params(self) -> None:
        check_positive_float(self.scale, "scale")

    def _allowed_shapes(self, attr: str) -> tuple[tuple[int, ...], ...]:
        return ((self.n_features_in_,),) if attr == "log_max_" else ((),)

    def fit(self, X, y=None):
        """Check ``X`` (nonnegative counts); record the mean library size and the log-space
        maximum of each gene. Returns ``self``."""
        X = self._fit_input(X)
        warn_if_log_transformed(X, self.kind)
        self.mean_library_size_ = np.asarray(X.sum(axis=1, dtype=np.float64).mean())
        self._record_range(self._log_cpm(X))
        return self

    def _log_cpm(self, X: np.ndarray) -> np.ndarray:
        totals = X.sum(axis=1, dtype=np.float64)
        factor = np.divide(float(self.scale), totals, out=np.zeros_like(totals), where=totals > 0)
        return np.log1p(X * factor[:, None])

    def transform(self, X):
        """Return log1p counts per ``scale``."""
        X = self._fitted_input(X, "transform")
        return self._log_cpm(X).astype(_float_dtype(X), copy=False)

    def inverse_transform(self, X, library_size=None):
        """Return counts per ``scale`` (``expm1(X)``), or counts when ``library_size`` is given.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_genes)
            Data in log1p-CPM space.
        library_size : None, "mean", float or array-like of shape (n_samples,)
            Library size of each sample. None: return counts per ``scale`` (CPM).

        Returns
        -------
        values : ndarray of shape (n_samples, n_genes)
            CPM (``library_size=None``) or counts ``expm1(X) * library_size / scale``.
        """
        X = self._fitted_input(X, "inverse_transform")
        per_scale = np.expm1(self._clip(X))
        if library_size is None:
            return per_scale.astype(_float_dtype(X), copy=False)
        totals = self._library_size(library_size, X.shape[0])
        return (per_scale * (totals / float(self.scale))[:, None]).astype(_float_dtype(X), copy=False)

    def _library_size(self, library_size, n_samples: int) -> np.ndarray:
        if isinstance(library_size, str):
            if library_size != "mean":
                raise InputError(
                    f"library_size must be None, 'mean', a number or an array, got {library_size!r}."
                )
            return np.full(n_samples, float(self.mean_library_size_))
        sizes = np.asarray(library_size, dtype=np.float64)
        if sizes.ndim == 0:
            sizes = np.full(n_samples, float(sizes))
        if sizes.shape != (n_samples,) or not np.all(np.isfinite(sizes)) or np.any(sizes < 0):
            raise InputError(
                f"library_size must be finite, nonnegative and of shape ({n_samples},) (one per "
                f"sample), got shape {sizes.shape}. Pass the row sums of the original counts."
            )
        return sizes


_KINDS: dict[str, type[_StatefulTransform]] = {
    cls.kind: cls for cls in (Identity, MinMaxScaler, PercentileClip, Log1p, Log1pCPM)
}


class PreprocessChain(Pipeline):
    """A :class:`sklearn.pipeline.Pipeline` of csgene transforms, with array-dict state.

    Build one with :func:`make_preprocessor`. ``inverse_transform`` applies the inverses in
    reverse order and forwards ``library_size`` to a :class:`Log1pCPM` step.
    """

    def inverse_transform(self, X, library_size=None):
        """Undo the chain, last step first.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_genes)
        library_size : see :meth:`Log1pCPM.inverse_transform`
            Used only by a ``log1p-cpm`` step.
        """
        check_is_fitted(self)
        if library_size is not None and not any(isinstance(step, Log1pCPM) for _, step in self.steps):
            raise InputError(
                f"library_size applies to a log1p-cpm preprocessing only; this chain is "
                f"{'+'.join(step.kind for _, step in self.steps)}. Leave library_size out."
            )
        for _, step in reversed(self.steps):
            if isinstance(step, Log1pCPM):
                X = step.inverse_transform(X, library_size=library_size)
            else:
                X = step.inverse_transform(X)
        return X

    def get_state(self) -> dict[str, np.ndarray]:
        """Return the state of every step as one flat dict of numpy arrays.

        Keys: ``"kinds"`` (bytes, the step kinds joined by ``+``) and ``"step{i}.{key}"``
        for each step's :meth:`~_StatefulTransform.get_state`.
        """
        check_is_fitted(self)
        state = {"kinds": np.bytes_("+".join(step.kind for _, step in self.steps).encode())}
        for i, (_, step) in enumerate(self.steps):
            state.update({f"step{i}.{key}": value for key, value in step.get_state().items()})
        return state

    @classmethod
    def from_state(cls, state: Mapping[str, np.ndarray]) -> "PreprocessChain":
        """Rebuild a fitted chain from :meth:`get_state`'s dict."""
        kinds = str(_state_scalar(state, "kinds", cls)).split("+")
        unknown = [kind for kind in kinds if kind not in _KINDS]
        if unknown:
            raise ModelFileError(
                f"Saved preprocessing chain names unknown step kind(s) {unknown} (known: "
                f"{sorted(_KINDS)}). Upgrade csgene or refit and save the model again."
            )
        steps = []
        for i, kind in enumerate(kinds):
            prefix = f"step{i}."
            sub = {key[len(prefix):]: value for key, value in state.items() if key.startswith(prefix)}
            steps.append((f"{kind}{i}", _KINDS[kind].from_state(sub)))
        return cls(steps)


def _parse_name(name: str) -> _StatefulTransform:
    token = name.strip().lower()
    match = _CLIP_PATTERN.match(token)
    if match:
        percentile = float(match.group(1))
        if not 0 < percentile <= 100:
            raise InputError(f"Preprocessing step {name!r}: the percentile must be in (0, 100].")
        return PercentileClip(percentile=percentile)
    if token in _KINDS and token != "clip":
        return _KINDS[token]()
    raise InputError(
        f"Unknown preprocessing step {name!r}. Valid names: {', '.join(VALID_NAMES)} "
        f"(clipNN = clip at the NN-th percentile, e.g. clip99), joined by '+' or ','."
    )


def make_preprocessor(spec: str | Iterable[str] | None = "none") -> PreprocessChain:
    """Build an unfitted chain of transforms from names.

    Parameters
    ----------
    spec : str, list of str or None
        Step names joined by ``"+"`` or ``","`` (``"clip99+log1p"``) or a list of names
        (``["clip99", "minmax"]``). Valid names: ``none``, ``minmax``, ``log1p``,
        ``log1p-cpm``, ``clipNN`` (e.g. ``clip99``, ``clip99.5``). ``none`` steps are
        dropped; an empty chain (``"none"`` or None) returns data unchanged.

    Returns
    -------
    chain : PreprocessChain
        Applies the steps in the given order; ``inverse_transform`` undoes them in reverse.

    Raises
    ------
    InputError
        For an unknown or empty name; the message lists the valid names.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[0.0, 10.0], [3.0, 1.0], [8.0, 4.0]])
    >>> prep = make_preprocessor("log1p+minmax").fit(X)
    >>> np.allclose(prep.inverse_transform(prep.transform(X)), X)
    True
    """
    if spec is None:
        names = ["none"]
    elif isinstance(spec, str):
        names = re.split(r"[+,]", spec)
    else:
        names = list(spec)
        if not all(isinstance(name, str) for name in names):
            raise InputError(f"Preprocessing steps must be names (strings), got {names!r}.")
    if any(not name.strip() for name in names) or not names:
        raise InputError(
            f"Empty preprocessing step in {spec!r}. Valid names: {', '.join(VALID_NAMES)}, joined "
            f"by '+' or ','; use 'none' for no preprocessing."
        )
    transforms = [_parse_name(name) for name in names]
    transforms = [t for t in transforms if not isinstance(t, Identity)] or [Identity()]
    return PreprocessChain([(f"{t.kind}{i}", t) for i, t in enumerate(transforms)])
