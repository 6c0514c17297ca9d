"""Access to torch for the neural decoders: the lazy import, tensors, and seeded generators.

torch is imported through :func:`import_torch` only, so ``csgene.neural`` imports without it;
the error, naming ``pip install 'csgene[nn]'``, comes when a model is constructed or fitted.
"""

from __future__ import annotations

import contextlib

import numpy as np

from .._optional import require

FEATURE = "the neural decoders"


def import_torch():
    """Return the ``torch`` module.

    Raises
    ------
    csgene.exceptions.MissingDependencyError
        torch is not installed; the message names ``pip install 'csgene[nn]'``.
    """
    return require("torch", FEATURE)


def to_tensor(X, device):
    """``X`` as a C-contiguous float32 tensor on ``device``.

    Parameters
    ----------
    X : array-like
    device : torch.device or str

    Returns
    -------
    torch.Tensor
    """
    torch = import_torch()
    return torch.as_tensor(np.ascontiguousarray(X, dtype=np.float32), device=device)


@contextlib.contextmanager
def seeded(seed: int, device):
    """Seed torch's global RNGs (weight init, dropout) inside, and restore them on exit.

    Parameters
    ----------
    seed : int
    device : torch.device
        Its CUDA generator, if any, is forked too.

    Yields
    ------
    torch.Generator
        A generator on ``device`` seeded with ``seed``, for explicit draws (batches, noise,
        restarts).
    """
    torch = import_torch()
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        generator = torch.Generator(device=device)
        generator.manual_seed(seed)
        yield generator
