"""The base of the neural methods: scikit-learn parameters, fitted and input checks, and the
method protocol's ``get_state``/``set_state`` on top of the model files of :mod:`._files`."""

from __future__ import annotations

import inspect
import io

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError as _SklearnNotFittedError

from .._device import check_device
from .._validation import check_matrix, check_positive_float, check_positive_int, check_snr
from ..exceptions import InputError
from ._files import load_file
from ._torch import import_torch


class NotFittedError(InputError, _SklearnNotFittedError):
    """A neural method was used before it was fitted.

    Both scikit-learn's :class:`sklearn.exceptions.NotFittedError` and csgene's
    :class:`~csgene.exceptions.InputError` (which the command line prints as one line).
    """


def check_common_params(*, device, verbose, max_epochs=None, batch_size=None, patience=None,
                        lr=None, weight_decay=None, dropout=None, validation_fraction=None):
    """Validate the parameters shared by the neural models (those given, not None).

    Raises
    ------
    InputError
        A parameter is out of range; the message names it and the valid range.
    """
    check_device(device)
    if max_epochs is not None:
        check_positive_int(max_epochs, "max_epochs")
    if batch_size is not None:
        check_positive_int(batch_size, "batch_size")
    if patience is not None:
        check_positive_int(patience, "patience")
    if lr is not None:
        check_positive_float(lr, "lr")
    if weight_decay is not None:
        check_positive_float(weight_decay, "weight_decay", allow_zero=True)
    if dropout is not None and not (isinstance(dropout, (int, float)) and 0 <= dropout < 1):
        raise InputError(f"dropout must be a probability in [0, 1), got {dropout!r}.")
    if validation_fraction is not None and not (
        isinstance(validation_fraction, (int, float)) and 0 < validation_fraction < 1
    ):
        raise InputError(f"validation_fraction must be in (0, 1), got {validation_fraction!r}.")


class NeuralMethod(BaseEstimator):
    """Shared manners of the neural methods.

    Parameters come from scikit-learn's :class:`~sklearn.base.BaseEstimator` (``get_params``,
    ``set_params``, ``clone`` and ``repr`` read the constructor's signature). A savable subclass
    defines ``save(path)`` and ``_restore(config, arrays, states, path)``; it then gets
    :meth:`load`, and :meth:`get_state`/:meth:`set_state` for :class:`csgene.CompressedSensing`
    model files.
    """

    name = "neural"

    def _store_params(self, values: dict) -> None:
        """Store the constructor's arguments unchanged, then import torch, so that a missing torch
        fails at construction, naming ``pip install 'csgene[nn]'``.

        Call it as ``self._store_params(locals())`` from ``__init__``.
        """
        for key in inspect.signature(type(self).__init__).parameters:
            if key != "self":
                setattr(self, key, values[key])
        import_torch()

    def set_params(self, **params):
        """Set constructor parameters.

        Returns
        -------
        self

        Raises
        ------
        InputError
            A name is not a constructor parameter.
        """
        valid = self.get_params(deep=False)
        for key in params:
            if key not in valid:
                raise InputError(f"{type(self).__name__} has no parameter {key!r}; valid: {tuple(valid)}.")
        return super().set_params(**params)

    # ------------------------------------------------------------------ files and state
    @classmethod
    def load(cls, path, device="auto"):
        """Read a model written by ``save``; ready to ``recover``.

        Parameters
        ----------
        path : str, Path or binary file object
        device : {"auto", "cpu", "cuda"}, default "auto"
            Where the loaded model runs.

        Returns
        -------
        model : instance of ``cls``
        """
        return cls(device=device)._read(path)

    def get_state(self) -> dict:
        """The fitted model as arrays for :class:`csgene.CompressedSensing` model files.

        Returns
        -------
        dict
            ``{"torch_weights": uint8 array}``: the bytes ``save`` writes (weights only, loaded
            with ``weights_only=True``).
        """
        if not hasattr(self, "save"):
            raise InputError(f"{type(self).__name__} cannot be saved to a model file.")
        buffer = io.BytesIO()
        self.save(buffer)
        return {"torch_weights": np.frombuffer(buffer.getvalue(), dtype=np.uint8)}

    def set_state(self, state: dict):
        """Restore the model :meth:`get_state` described, on this instance's device.

        Parameters
        ----------
        state : dict
            What :meth:`get_state` returned.

        Returns
        -------
        self
        """
        return self._read(io.BytesIO(np.asarray(state["torch_weights"], dtype=np.uint8).tobytes()))

    def _read(self, path):
        """Take the parameters and fitted state in model file ``path``; keep ``device``."""
        params, config, arrays, states = load_file(path, type(self).__name__)
        params.pop("device", None)
        if "hidden" in params:
            params["hidden"] = tuple(params["hidden"])
        for attribute in [a for a in vars(self) if a.endswith("_") and not a.startswith("_")]:
            delattr(self, attribute)
        self.set_params(**params)
        self._restore(config, arrays, states, path)
        return self

    # ------------------------------------------------------------------ checks
    def _require_fitted(self, attribute: str, call: str) -> None:
        if not hasattr(self, attribute):
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet: call {call} first.")

    def _check_design(self, A, snr) -> tuple[np.ndarray, float]:
        A = check_matrix(A, "A", min_rows=1)
        if A.shape[1] != self.n_genes_:
            raise InputError(
                f"A has {A.shape[1]} columns but the model was fitted on {self.n_genes_} genes. "
                f"A must be (n_measurements, n_genes) with the training genes in the same order."
            )
        snr = check_snr(snr)
        return A, snr

    def _check_measurements(self, Y) -> np.ndarray:
        self._require_fitted("design_", "fit(X_train) and fit_design(A)")
        Y = check_matrix(Y, "Y")
        if Y.shape[1] != self.design_.shape[0]:
            raise InputError(
                f"Y has {Y.shape[1]} measurements (columns) but the design A has "
                f"{self.design_.shape[0]} rows. Y must be (n_samples, n_measurements) measured with "
                f"the A given to fit_design."
            )
        return Y
