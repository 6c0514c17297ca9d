"""Where computations run: one device vocabulary and one resolver for the Numba kernels and torch.

Every ``device`` parameter in csgene takes one of :data:`DEVICES` (``"cpu"``, ``"cuda"``,
``"auto"``; ``"auto"`` picks CUDA only when a GPU is really usable) and is resolved here:

- :func:`kernels` / :func:`resolve_device` for the Numba kernels (decoders, dictionary learners);
- :func:`torch_device` for the neural models.

The kernels' own errors (:mod:`csgene_kernels.device`, which imports nothing from csgene) become
csgene's exceptions here, with the same messages. Importing this module does not import numba
or torch.
"""

from __future__ import annotations

import contextlib

from csgene_kernels import device as _kernel_device

from ._optional import require
from .exceptions import DeviceUnavailableError, InputError, MissingDependencyError

#: The device names every ``device`` parameter and ``--device`` option accepts.
DEVICES = _kernel_device.DEVICES
#: Help text of the command line's ``--device``.
DEVICE_HELP = "auto (default): CUDA when a usable GPU is there, else the CPU"


@contextlib.contextmanager
def _as_csgene_errors():
    """Re-raise the kernels' device errors as csgene's (same message)."""
    try:
        yield
    except _kernel_device.UnknownDeviceError as exc:
        raise InputError(str(exc)) from None
    except _kernel_device.CudaMissingError as exc:
        raise MissingDependencyError(str(exc)) from None
    except _kernel_device.DeviceUnavailableError as exc:
        raise DeviceUnavailableError(str(exc)) from None


def check_device(device) -> str:
    """``device`` lower-cased when it is one of :data:`DEVICES` (nothing is resolved), else InputError."""
    if not isinstance(device, str) or device.lower() not in DEVICES:
        raise InputError(f"device must be one of {', '.join(map(repr, DEVICES))}; got {device!r}. "
                         f"Pass device='cpu', 'cuda' or 'auto'.")
    return device.lower()


def resolve_device(device="auto") -> str:
    """``"cpu"`` or ``"cuda"``: where the Numba kernels run for ``device``.

    Raises
    ------
    InputError
        ``device`` is not one of :data:`DEVICES`.
    MissingDependencyError
        ``"cuda"`` was asked for and numba-cuda is not installed (names the extra).
    DeviceUnavailableError
        ``"cuda"`` was asked for and no GPU or driver is usable.
    """
    with _as_csgene_errors():
        return _kernel_device.resolve_device(device)


def kernels(device="cpu"):
    """The Numba kernel functions for ``device`` (see :func:`csgene_kernels.device.kernels`)."""
    with _as_csgene_errors():
        return _kernel_device.kernels(device)


def torch_device(device="auto"):
    """The ``torch.device`` for ``device``; ``"auto"`` is CUDA when torch sees a GPU.

    Raises
    ------
    MissingDependencyError
        torch is not installed (names ``pip install 'csgene[nn]'``).
    InputError
        ``device`` is not one of :data:`DEVICES`.
    DeviceUnavailableError
        ``"cuda"`` was asked for and torch sees no CUDA device.
    """
    torch = require("torch", "the neural decoders")
    device = check_device(device)
    if device == "cuda" and not torch.cuda.is_available():
        raise DeviceUnavailableError(
            "device='cuda' was requested but torch sees no CUDA device (torch.cuda.is_available() is "
            "False). Use device='cpu' or 'auto', or install a CUDA build of torch."
        )
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(device)
