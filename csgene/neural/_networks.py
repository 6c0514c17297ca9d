"""Network builders of the neural decoders: a ReLU MLP, and an MLP beside a linear path that
starts at the ridge solution."""

from __future__ import annotations

import numpy as np

from ._torch import import_torch


def build_mlp(n_in: int, n_out: int, hidden=(500, 500, 500), dropout: float = 0.0, *, zero_last: bool = False):
    """ReLU MLP ``n_in -> hidden... -> n_out`` with a linear output (dropout after each ReLU).

    Parameters
    ----------
    n_in, n_out : int
        Input and output widths.
    hidden : sequence of int
        Hidden layer widths.
    dropout : float
        Dropout probability after each hidden layer (0: none).
    zero_last : bool
        Start the output layer's weights and bias at zero.

    Returns
    -------
    torch.nn.Sequential
    """
    torch = import_torch()
    nn = torch.nn
    layers, width = [], n_in
    for h in hidden:
        layers += [nn.Linear(width, h), nn.ReLU()]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        width = h
    last = nn.Linear(width, n_out)
    if zero_last:
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)
    layers.append(last)
    return nn.Sequential(*layers)


def make_residual_mlp(n_in: int, n_out: int, hidden, dropout: float, linear_init=None, linear_columns=None):
    """MLP plus a parallel linear path.

    With ``linear_init=(W, b)`` the linear path starts at that (ridge) solution and the MLP's last
    layer at zero, so training starts from the ridge fit.

    Parameters
    ----------
    n_in, n_out : int
        Input and output widths.
    hidden : sequence of int
        Hidden widths of the MLP.
    dropout : float
        Dropout after each hidden layer of the MLP.
    linear_init : tuple of (ndarray, ndarray), optional
        Starting ``(weight (n_out, n_linear_in), bias (n_out,))`` of the linear path.
    linear_columns : array-like of int, optional
        Input columns the linear path sees (all by default): a refiner whose inputs are a first
        recovery (thousands of genes) plus the measurements keeps a d -> genes linear path
        instead of a genes -> genes matrix.

    Returns
    -------
    torch.nn.Module
        ``forward(x) = linear(x[:, linear_columns]) + mlp(x)``.
    """
    torch = import_torch()
    nn = torch.nn
    columns = None if linear_columns is None else torch.as_tensor(np.asarray(linear_columns), dtype=torch.long)

    class ResidualMLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = nn.Linear(n_in if columns is None else len(columns), n_out)
            self.mlp = build_mlp(n_in, n_out, hidden, dropout, zero_last=linear_init is not None)
            self.register_buffer("linear_columns", columns, persistent=False)

        def forward(self, x):
            linear_in = x if self.linear_columns is None else x[:, self.linear_columns]
            return self.linear(linear_in) + self.mlp(x)

    model = ResidualMLP()
    if linear_init is not None:
        weight, bias = linear_init
        with torch.no_grad():
            model.linear.weight.copy_(torch.as_tensor(weight, dtype=torch.float32))
            model.linear.bias.copy_(torch.as_tensor(bias, dtype=torch.float32))
    return model


def ridge_linear_init(inputs: np.ndarray, targets: np.ndarray):
    """A ridge fit ``inputs -> targets``, penalty chosen by leave-one-out (GCV).

    Parameters
    ----------
    inputs : ndarray of shape (n, p)
    targets : ndarray of shape (n, q)

    Returns
    -------
    weight : ndarray of shape (q, p)
    bias : ndarray of shape (q,)
    """
    from sklearn.linear_model import RidgeCV

    ridge = RidgeCV(alphas=np.logspace(-3, 4, 15)).fit(inputs, targets)
    return np.atleast_2d(ridge.coef_), np.atleast_1d(ridge.intercept_)
