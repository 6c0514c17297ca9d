"""The training toolkit of the neural decoders: standardising, measurement noise, a seeded
train/validation split, and Adam training with early stopping that keeps the best weights."""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field

import numpy as np

from ..exceptions import InputError
from ._torch import import_torch


@dataclass
class Standardizer:
    """Per-column ``(x - mean) / scale``; constant columns get scale 1.

    Attributes
    ----------
    mean, scale : ndarray of shape (n_columns,), float32
    """

    mean: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, X: np.ndarray) -> Standardizer:
        """The column means and standard deviations of ``X`` (n_rows, n_columns)."""
        mean = X.mean(axis=0)
        scale = X.std(axis=0)
        scale[scale < 1e-12 * max(1.0, float(np.abs(mean).max(initial=0.0)))] = 1.0
        return cls(mean=mean.astype(np.float32), scale=scale.astype(np.float32))

    def tensors(self, device):
        """``(mean, scale)`` as tensors on ``device``."""
        torch = import_torch()
        return torch.as_tensor(self.mean, device=device), torch.as_tensor(self.scale, device=device)


def add_measurement_noise(X, snr: float, generator):
    """Cleary et al.'s noise: ``X + N`` with Gaussian ``N`` scaled so ``||N||_F = ||X||_F / snr``.

    Parameters
    ----------
    X : torch.Tensor
    snr : float
        inf: ``X`` itself, no draw.
    generator : torch.Generator
        Draws ``N``, on ``X``'s device.

    Returns
    -------
    torch.Tensor
    """
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
        """The history as plain JSON-able types."""
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
    """A seeded random train/validation split of ``n`` rows.

    Parameters
    ----------
    n : int
        Number of rows (at least 2).
    fraction : float
        Share of the rows for validation, rounded, at least ``min_val`` and at most ``n - 1``.
    seed : int
    min_val : int

    Returns
    -------
    train_idx, val_idx : ndarray of int, sorted
    """
    if n < 2:
        raise InputError(f"training needs at least 2 samples (one for validation), got {n}.")
    n_val = min(n - 1, max(min_val, int(round(fraction * n))))
    perm = np.random.default_rng(seed).permutation(n)
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])
