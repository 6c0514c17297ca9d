"""A standardised MLP regressor with early stopping: the trainer shared by the measurement MLP
(measurements -> profiles) and the SMAF+MLP refiner (a first recovery -> profiles)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._networks import build_mlp, make_residual_mlp, ridge_linear_init
from ._torch import import_torch, seeded, to_tensor
from ._training import Standardizer, TrainingHistory, split_validation, train_with_early_stopping


@dataclass
class RegressionMLP:
    """A fitted standardised MLP regressor (see :func:`fit_regression_mlp`).

    Attributes
    ----------
    model : torch.nn.Module
        Maps standardised inputs to standardised targets.
    input_std, target_std : Standardizer
    history : TrainingHistory or None
        None for a model read from a file.
    """

    model: object
    input_std: Standardizer
    target_std: Standardizer
    history: TrainingHistory

    def predict(self, inputs) -> np.ndarray:
        """Predict from unstandardised inputs.

        Parameters
        ----------
        inputs : array-like of shape (n, n_inputs)

        Returns
        -------
        ndarray of shape (n, n_targets), float64
            In the targets' units (computed in float32 on the model's device).
        """
        torch = import_torch()
        device = next(self.model.parameters()).device
        in_mean, in_scale = self.input_std.tensors(device)
        out_mean, out_scale = self.target_std.tensors(device)
        self.model.eval()
        with torch.no_grad():
            out = self.model((to_tensor(inputs, device) - in_mean) / in_scale) * out_scale + out_mean
        return out.cpu().numpy().astype(np.float64)


def fit_regression_mlp(
    source: np.ndarray,
    target: np.ndarray,
    *,
    make_input=None,
    hidden=(500, 500, 500),
    dropout: float = 0.0,
    linear_skip: bool = True,
    lr: float = 1e-3,
    weight_decay: float = 1e-5,
    max_epochs: int = 100,
    batch_size: int = 64,
    patience: int = 10,
    validation_fraction: float = 0.15,
    seed: int = 0,
    device=None,
    verbose: int = 0,
    label: str = "mlp",
    linear_columns=None,
) -> RegressionMLP:
    """Train a standardised MLP ``make_input(source) -> target`` with early stopping.

    This is the shared trainer of :class:`~csgene.neural.MeasurementMLP` (``source`` = profiles,
    ``make_input`` = noisy measurement with the design) and of a profile refiner (``source`` = a
    first recovery such as SMAF's, ``make_input=None``: genes -> 500 -> 500 -> 500 -> genes).

    Parameters
    ----------
    source : ndarray of shape (n, p)
        Rows from which inputs are made.
    target : ndarray of shape (n, q)
        What the network predicts.
    make_input : callable(source_rows: Tensor, generator) -> Tensor, optional
        Turns source rows into inputs; called afresh for every training batch (augmentation, e.g.
        new noise each epoch) and once, with a fixed draw, for the validation rows. Default: identity.
    linear_skip : bool
        Add a linear path initialised at the ridge solution (on standardised data), with the MLP's
        last layer starting at zero: training starts from ridge and the MLP learns a correction.
        With a few hundred samples this is what keeps the MLP at least as good as ridge.
    seed : int
        Seeds the split, the initialisation, dropout, batches and noise.
    device : torch.device, optional
        Default CPU.
    linear_columns : array-like of int, optional
        Input columns the linear path (and its ridge start) sees; the others enter through the
        MLP only. Lets a refiner start exactly at ridge from the measurements while a first
        recovery (thousands of genes) feeds the MLP, without a genes x genes linear matrix.

    Returns
    -------
    RegressionMLP
    """
    torch = import_torch()
    device = device if device is not None else torch.device("cpu")
    make_input = make_input if make_input is not None else (lambda rows, generator: rows)
    train_idx, val_idx = split_validation(len(source), validation_fraction, seed)
    with seeded(seed, device) as generator:
        src = to_tensor(source, device)
        tgt = to_tensor(target, device)
        first_inputs = make_input(src, generator)
        input_std = Standardizer.fit(first_inputs[train_idx].cpu().numpy())
        target_std = Standardizer.fit(target[train_idx])
        in_mean, in_scale = input_std.tensors(device)
        out_mean, out_scale = target_std.tensors(device)
        inputs_std = (first_inputs - in_mean) / in_scale
        targets_std = (tgt - out_mean) / out_scale
        train_t = torch.as_tensor(train_idx, device=device)
        val_inputs, val_targets = inputs_std[val_idx], targets_std[val_idx]
        linear_init = None
        if linear_skip:
            linear_in = inputs_std[train_idx]
            if linear_columns is not None:
                linear_in = linear_in[:, np.asarray(linear_columns)]
            linear_init = ridge_linear_init(
                linear_in.cpu().numpy().astype(np.float64),
                targets_std[train_idx].cpu().numpy().astype(np.float64),
            )
        n_in, n_out = inputs_std.shape[1], targets_std.shape[1]
        if linear_skip:
            model = make_residual_mlp(n_in, n_out, hidden, dropout, linear_init, linear_columns).to(device)
        else:
            model = build_mlp(n_in, n_out, hidden, dropout).to(device)

        def batch_loss(idx, epoch):
            rows = train_t[idx]
            x_in = (make_input(src[rows], generator) - in_mean) / in_scale
            return torch.mean((model(x_in) - targets_std[rows]) ** 2)

        def val_loss(epoch):
            return float(torch.mean((model(val_inputs) - val_targets) ** 2))

        history = train_with_early_stopping(
            model, batch_loss, val_loss, len(train_idx), max_epochs=max_epochs, batch_size=batch_size,
            lr=lr, weight_decay=weight_decay, patience=patience, generator=generator, verbose=verbose,
            label=label,
        )
    return RegressionMLP(model=model, input_std=input_std, target_std=target_std, history=history)
