"""Shared torch helpers for the neural decoders: import, device, seeding, standardising,
MLP building, the training loop with early stopping, measurement noise, and weights-only files.

torch is imported lazily through :func:`import_torch`, so this module (and ``csgene.neural``)
imports without torch; the error comes when a model is constructed or fitted.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .._atomic import atomic_path
from .._device import check_device
from .._optional import require
from .._validation import check_matrix, check_positive_float, check_positive_int, check_snr
from ..exceptions import InputError, ModelFileError

FEATURE = "the neural decoders"
FILE_FORMAT = "csgene.neural/1"


def import_torch():
    """Return the ``torch`` module or raise MissingDependencyError naming ``pip install 'csgene[nn]'``."""
    return require("torch", FEATURE)




@contextlib.contextmanager
def seeded(seed: int, device):
    """Seed torch's global RNGs (weight init, dropout) inside, and restore them on exit.

    Yields a ``torch.Generator`` on ``device`` for explicit draws (batches, noise, restarts).
    """
    torch = import_torch()
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        generator = torch.Generator(device=device)
        generator.manual_seed(seed)
        yield generator


@dataclass
class Standardizer:
    """Per-column ``(x - mean) / scale``; constant columns get scale 1."""

    mean: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, X: np.ndarray) -> Standardizer:
        mean = X.mean(axis=0)
        scale = X.std(axis=0)
        scale[scale < 1e-12 * max(1.0, float(np.abs(mean).max(initial=0.0)))] = 1.0
        return cls(mean=mean.astype(np.float32), scale=scale.astype(np.float32))

    def tensors(self, device):
        torch = import_torch()
        return torch.as_tensor(self.mean, device=device), torch.as_tensor(self.scale, device=device)


def build_mlp(n_in: int, n_out: int, hidden=(500, 500, 500), dropout: float = 0.0, *, zero_last: bool = False):
    """ReLU MLP ``n_in -> hidden... -> n_out`` with a linear output (dropout after each ReLU)."""
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
    """MLP plus a parallel linear path; with ``linear_init=(W, b)`` the linear path starts at that
    (ridge) solution and the MLP's last layer at zero, so training starts from the ridge fit.

    ``linear_columns`` restricts the linear path to those input columns (all by default): a
    refiner whose inputs are a first recovery (thousands of genes) plus the measurements keeps a
    d -> genes linear path instead of a genes -> genes matrix."""
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


def add_measurement_noise(X, snr: float, generator):
    """Cleary et al.'s noise: ``X + N`` with Gaussian ``N`` scaled so ``||N||_F = ||X||_F / snr``."""
    torch = import_torch()
    if not np.isfinite(snr):
        return X
    noise = torch.randn(X.shape, generator=generator, device=X.device, dtype=X.dtype)
    return X + noise * (torch.linalg.norm(X) / (snr * torch.linalg.norm(noise).clamp_min(1e-30)))


@dataclass
class TrainingHistory:
    """Per-epoch losses of one training run; ``best_epoch`` is the epoch whose weights were kept."""

    train: list = field(default_factory=list)
    val: list = field(default_factory=list)
    best_epoch: int = -1
    seconds: float = 0.0
    stopped_early: bool = False

    def as_dict(self) -> dict:
        return {
            "train": [float(v) for v in self.train],
            "val": [float(v) for v in self.val],
            "best_epoch": int(self.best_epoch),
            "seconds": float(self.seconds),
            "stopped_early": bool(self.stopped_early),
        }


def train_with_early_stopping(
    model,
    batch_loss,
    val_loss,
    n_train: int,
    *,
    max_epochs: int,
    batch_size: int,
    lr: float,
    weight_decay: float,
    patience: int,
    generator,
    verbose: int = 0,
    label: str = "model",
    min_epochs: int = 0,
) -> TrainingHistory:
    """Train ``model`` with Adam on shuffled mini-batches; stop when the validation loss has not
    improved for ``patience`` epochs and restore the best weights.

    Parameters
    ----------
    model : torch.nn.Module
    batch_loss : callable(indices: LongTensor, epoch: int) -> scalar tensor
        Training loss on the training rows ``indices`` (may draw fresh noise: augmentation).
    val_loss : callable(epoch: int) -> float or None
        Validation loss, called in eval mode without gradients. ``None`` disables early stopping
        (the last epoch is kept).
    n_train : int
        Number of training rows.
    generator : torch.Generator
        Shuffles the batches.
    min_epochs : int
        Epochs before early stopping may start (e.g. while a KL warm-up changes the objective);
        the best weights are chosen among later epochs only.
    """
    torch = import_torch()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    history = TrainingHistory()
    best, best_state, waited = np.inf, None, 0
    device = generator.device
    start = time.perf_counter()
    for epoch in range(max_epochs):
        model.train()
        order = torch.randperm(n_train, generator=generator, device=device)
        total, count = 0.0, 0
        for begin in range(0, n_train, batch_size):
            idx = order[begin : begin + batch_size]
            loss = batch_loss(idx, epoch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(idx)
            count += len(idx)
        history.train.append(total / count)
        model.eval()
        with torch.no_grad():
            current = val_loss(epoch)
        if current is None:
            history.best_epoch = epoch
            continue
        history.val.append(float(current))
        if verbose:
            print(f"[{label}] epoch {epoch + 1}: train {history.train[-1]:.5g}, val {current:.5g}")
        if epoch + 1 < min_epochs:
            continue
        if current < best:
            best, waited, history.best_epoch = current, 0, epoch
            best_state = copy.deepcopy(model.state_dict())
        else:
            waited += 1
            if waited >= patience:
                history.stopped_early = True
                break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    history.seconds = time.perf_counter() - start
    return history


def split_validation(n: int, fraction: float, seed: int, min_val: int = 1):
    """Return (train_idx, val_idx) numpy index arrays for a seeded random split."""
    if n < 2:
        raise InputError(f"training needs at least 2 samples (one for validation), got {n}.")
    n_val = min(n - 1, max(min_val, int(round(fraction * n))))
    perm = np.random.default_rng(seed).permutation(n)
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])


def check_common_params(*, device, verbose, max_epochs=None, batch_size=None, patience=None,
                        lr=None, weight_decay=None, dropout=None, validation_fraction=None):
    """Validate the parameters shared by all neural models (raise InputError naming the fix)."""
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


def to_tensor(X: np.ndarray, device):
    """float32 tensor on ``device``."""
    torch = import_torch()
    return torch.as_tensor(np.ascontiguousarray(X, dtype=np.float32), device=device)


def jsonable_params(params: dict) -> dict:
    """Constructor parameters as JSON-able values (a RandomState/Generator is saved as None)."""
    out = {}
    for key, value in params.items():
        if isinstance(value, tuple):
            value = list(value)
        try:
            json.dumps(value)
        except TypeError:
            value = None
        out[key] = value
    return out


def save_file(path, *, kind: str, params: dict, config: dict, arrays: dict, modules: dict) -> None:
    """Write weights only: a dict of tensors and plain types, readable with ``weights_only=True``."""
    torch = import_torch()
    payload = {
        "format": FILE_FORMAT,
        "kind": kind,
        "params": json.dumps(jsonable_params(params)),
        "config": json.dumps(config),
        "arrays": {k: torch.as_tensor(np.asarray(v)) for k, v in arrays.items() if v is not None},
        "modules": {name: {k: v.detach().cpu() for k, v in m.state_dict().items()} for name, m in modules.items()},
    }
    if hasattr(path, "write"):
        torch.save(payload, path)
        return
    with atomic_path(path) as tmp:
        torch.save(payload, Path(tmp))


def load_file(path, kind: str) -> tuple[dict, dict, dict, dict]:
    """Read a file written by :func:`save_file` (a path or a binary file object); return
    (params, config, arrays, state_dicts)."""
    torch = import_torch()
    if not hasattr(path, "read"):
        path = Path(path)
        if not path.exists():
            raise InputError(f"model file {path} does not exist. Check the path, or save a model first.")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for corrupt or non-weights files
        raise ModelFileError(
            f"{path} could not be read as a csgene neural model ({type(exc).__name__}: {exc}). "
            f"Re-save it with {kind}.save(path)."
        ) from exc
    if not isinstance(payload, dict) or payload.get("format") != FILE_FORMAT:
        raise ModelFileError(
            f"{path} is not a csgene neural model file of format {FILE_FORMAT!r}. "
            f"Re-save it with this csgene version's {kind}.save(path)."
        )
    if payload.get("kind") != kind:
        raise ModelFileError(
            f"{path} holds a {payload.get('kind')}, not a {kind}. Load it with {payload.get('kind')}.load."
        )
    arrays = {k: v.numpy() for k, v in payload["arrays"].items()}
    return json.loads(payload["params"]), json.loads(payload["config"]), arrays, payload["modules"]


def ridge_linear_init(inputs: np.ndarray, targets: np.ndarray):
    """(weight, bias) of a ridge fit ``inputs -> targets``, penalty chosen by leave-one-out (GCV)."""
    from sklearn.linear_model import RidgeCV

    ridge = RidgeCV(alphas=np.logspace(-3, 4, 15)).fit(inputs, targets)
    return np.atleast_2d(ridge.coef_), np.atleast_1d(ridge.intercept_)


@dataclass
class RegressionMLP:
    """A fitted standardised MLP regressor (see :func:`fit_regression_mlp`)."""

    model: object
    input_std: Standardizer
    target_std: Standardizer
    history: TrainingHistory

    def predict_tensor(self, inputs):
        """Predict from unstandardised input tensor (any device); returns a tensor."""
        torch = import_torch()
        device = next(self.model.parameters()).device
        in_mean, in_scale = self.input_std.tensors(device)
        out_mean, out_scale = self.target_std.tensors(device)
        self.model.eval()
        with torch.no_grad():
            return self.model((inputs.to(device) - in_mean) / in_scale) * out_scale + out_mean


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


class NeuralMethod:
    """Shared manners of the neural methods: parameter access, fitted checks, input checks, device."""

    name = "neural"
    _param_names: tuple = ()

    def get_params(self, deep: bool = True) -> dict:
        """Constructor parameters (scikit-learn style)."""
        return {k: getattr(self, k) for k in self._param_names}

    def set_params(self, **params):
        """Set constructor parameters; returns self."""
        for key, value in params.items():
            if key not in self._param_names:
                raise InputError(f"{type(self).__name__} has no parameter {key!r}; valid: {self._param_names}.")
            setattr(self, key, value)
        return self

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={getattr(self, k)!r}' for k in self._param_names)})"

    def get_state(self) -> dict:
        """The fitted model as arrays for :class:`csgene.CompressedSensing` model files: the bytes
        :meth:`save` writes (weights only, loaded with ``weights_only=True``)."""
        if not hasattr(self, "save"):
            raise InputError(f"{type(self).__name__} cannot be saved to a model file.")
        buffer = io.BytesIO()
        self.save(buffer)
        return {"torch_weights": np.frombuffer(buffer.getvalue(), dtype=np.uint8)}

    def set_state(self, state: dict):
        """The model :meth:`get_state` described, on this instance's device (a new instance)."""
        weights = np.asarray(state["torch_weights"], dtype=np.uint8).tobytes()
        return type(self).load(io.BytesIO(weights), device=self.device)

    def _require_fitted(self, attribute: str, call: str) -> None:
        if not hasattr(self, attribute):
            raise InputError(f"this {type(self).__name__} is not fitted yet: call {call} first.")

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
