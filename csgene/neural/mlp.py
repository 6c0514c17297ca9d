"""Measurement MLP: a network trained to map measurements y straight to profiles x."""

from __future__ import annotations

import numpy as np

from .._device import torch_device
from .._random import draw_seed
from .._validation import check_matrix
from ..exceptions import InputError
from ._base import NeuralMethod, check_common_params
from ._files import load_state_dicts, save_file
from ._networks import build_mlp, make_residual_mlp
from ._regression import RegressionMLP, fit_regression_mlp
from ._torch import to_tensor
from ._training import Standardizer, add_measurement_noise


class MeasurementMLP(NeuralMethod):
    """Decode measurements with an MLP ``y (d) -> 500 -> 500 -> 500 -> x (genes)``.

    ``fit(X_train)`` only stores the training profiles; ``fit_design(A, snr)`` trains the network
    on measurements simulated with that design, drawing fresh noise of the same SNR for every
    batch (augmentation: the network never sees the same noisy y twice). Inputs and outputs are
    standardised on the training split; early stopping on a validation split restores the best
    weights.

    Parameters
    ----------
    hidden : tuple of int, default (500, 500, 500)
        Hidden layer widths (ReLU); the output layer is linear.
    dropout : float, default 0.1
        Dropout after each hidden layer.
    linear_skip : bool, default True
        Add a linear path y -> x initialised at the ridge solution (penalty by GCV) and start the
        MLP's last layer at zero, so training starts from ridge and learns a nonlinear correction.
        On a few hundred to a few thousand samples this keeps the MLP at least as good as ridge.
    lr : float, default 1e-3
        Adam learning rate.
    weight_decay : float, default 1e-5
        Adam weight decay (L2).
    max_epochs : int, default 40
        Kept modest so a default ``csgene run`` stays within minutes on 2 cores.
    batch_size : int, default 128
    patience : int, default 8
        Epochs without validation improvement before stopping.
    validation_fraction : float, default 0.15
    random_state : int, RandomState, Generator or None
    device : {"auto", "cpu", "cuda"}, default "auto"
        ``"auto"`` uses CUDA only when ``torch.cuda.is_available()``.
    verbose : int, default 0

    Attributes
    ----------
    n_genes_ : int
    design_ : ndarray of shape (n_measurements, n_genes)
    snr_ : float
    history_ : dict
        ``train`` and ``val`` losses per epoch (MSE on standardised genes), ``best_epoch``,
        ``seconds``, ``stopped_early``.
    network_ : csgene.neural._regression.RegressionMLP

    Examples
    --------
    >>> mlp = MeasurementMLP(random_state=0).fit(X_train).fit_design(A, snr=2.0)  # doctest: +SKIP
    >>> X_hat = mlp.recover(Y)  # doctest: +SKIP
    """

    name = "mlp"

    def __init__(self, hidden=(500, 500, 500), *, dropout=0.1, linear_skip=True, lr=1e-3,
                 weight_decay=1e-5, max_epochs=40, batch_size=128, patience=8,
                 validation_fraction=0.15, random_state=None, device="auto", verbose=0):
        self._store_params(locals())

    def _check_params(self) -> None:
        check_common_params(
            device=self.device, verbose=self.verbose, max_epochs=self.max_epochs,
            batch_size=self.batch_size, patience=self.patience, lr=self.lr,
            weight_decay=self.weight_decay, dropout=self.dropout,
            validation_fraction=self.validation_fraction,
        )
        if not (isinstance(self.hidden, (tuple, list)) and all(
                isinstance(h, (int, np.integer)) and h > 0 for h in self.hidden)):
            raise InputError(f"hidden must be a tuple of positive ints such as (500, 500, 500), got {self.hidden!r}.")

    def fit(self, X_train):
        """Store the training profiles (the network itself depends on the design: see fit_design).

        Parameters
        ----------
        X_train : array-like of shape (n_samples, n_genes)
            Preprocessed training profiles (at least 10 samples).

        Returns
        -------
        self
        """
        self._check_params()
        X_train = check_matrix(X_train, "X_train", min_rows=10)
        self.X_train_ = X_train.astype(np.float32)
        self.n_genes_ = X_train.shape[1]
        for attr in ("design_", "network_", "history_"):
            self.__dict__.pop(attr, None)
        return self

    def fit_design(self, A, snr=np.inf, random_state=None):
        """Train the network for design ``A`` at the given SNR.

        Parameters
        ----------
        A : array-like of shape (n_measurements, n_genes)
        snr : float, default inf
            ``||X||_F / ||N||_F`` of the noise added to profiles before measuring; inf = no noise.
        random_state : optional
            Overrides the constructor's ``random_state`` for this training.

        Returns
        -------
        self
        """
        self._require_fitted("X_train_", "fit(X_train)")
        if self.X_train_ is None:
            raise InputError("this MeasurementMLP was loaded from a file without training data: "
                             "call fit(X_train) before fit_design.")
        A, snr = self._check_design(A, snr)
        self._check_params()
        device = torch_device(self.device)
        seed = draw_seed(self.random_state if random_state is None else random_state)
        A_t = to_tensor(A, device)

        def measure(rows, generator):
            return add_measurement_noise(rows, snr, generator) @ A_t.T

        self.network_ = fit_regression_mlp(
            self.X_train_, self.X_train_, make_input=measure, hidden=tuple(self.hidden),
            dropout=float(self.dropout), linear_skip=bool(self.linear_skip), lr=self.lr,
            weight_decay=self.weight_decay, max_epochs=self.max_epochs, batch_size=self.batch_size,
            patience=self.patience, validation_fraction=self.validation_fraction, seed=seed,
            device=device, verbose=self.verbose, label=self.name,
        )
        self.design_ = A.astype(np.float32)
        self.snr_ = snr
        self.history_ = self.network_.history.as_dict()
        return self

    def recover(self, Y):
        """Predict profiles from measurements.

        Parameters
        ----------
        Y : array-like of shape (n_samples, n_measurements)

        Returns
        -------
        X_hat : ndarray of shape (n_samples, n_genes), float64
        """
        Y = self._check_measurements(Y)
        return self.network_.predict(Y)

    def save(self, path) -> None:
        """Write the fitted network (weights only, no pickled objects) to ``path``."""
        self._require_fitted("network_", "fit(X_train) and fit_design(A)")
        net = self.network_
        save_file(
            path, kind=type(self).__name__, params=self.get_params(),
            config={"n_genes": self.n_genes_, "snr": None if np.isinf(self.snr_) else self.snr_,
                    "n_in": int(self.design_.shape[0]), "history": self.history_},
            arrays={"design": self.design_, "in_mean": net.input_std.mean, "in_scale": net.input_std.scale,
                    "out_mean": net.target_std.mean, "out_scale": net.target_std.scale},
            modules={"model": net.model},
        )

    def _restore(self, config, arrays, states, path) -> None:
        """Rebuild the fitted network from a model file's contents (see :meth:`NeuralMethod.load`)."""
        dev = torch_device(self.device)
        n_in, n_genes = config["n_in"], config["n_genes"]
        if self.linear_skip:
            model = make_residual_mlp(n_in, n_genes, self.hidden, float(self.dropout))
        else:
            model = build_mlp(n_in, n_genes, self.hidden, float(self.dropout))
        load_state_dicts({"model": model}, states, path)
        model.to(dev).eval()
        self.network_ = RegressionMLP(
            model=model,
            input_std=Standardizer(arrays["in_mean"], arrays["in_scale"]),
            target_std=Standardizer(arrays["out_mean"], arrays["out_scale"]),
            history=None,
        )
        self.n_genes_ = n_genes
        self.design_ = arrays["design"]
        self.snr_ = np.inf if config["snr"] is None else float(config["snr"])
        self.history_ = config["history"]
        self.X_train_ = None
