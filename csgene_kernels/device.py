"""Pick the CPU or the CUDA kernels: ``resolve_device`` and ``kernels``.

Usage in csgene's Python layer::

    from csgene_kernels.device import kernels, resolve_device
    device = resolve_device(device)          # "cpu" or "cuda"; errors say how to fix
    k = kernels(device)
    indices, values = k.omp_gram(gram, dty, n_nonzero)

Both kernel sets take the same arguments (numpy arrays in, numpy arrays out; the CUDA set also
takes device arrays and then returns device arrays). Nothing here imports ``numba.cuda`` until
``"cuda"`` or ``"auto"`` is resolved, so importing csgene never pays for it, and nothing here
imports numba at all until a device is resolved (the command line reads :data:`DEVICES`).

The kernels are the ground floor: they never import the csgene package. Their errors are the
:class:`DeviceError` family below (plain ``ValueError``/``ImportError``/``RuntimeError``
subclasses); csgene's :mod:`csgene._device` turns them into csgene's own exceptions with the
same messages.
"""

from __future__ import annotations

import importlib.util
import os
import types

DEVICES = ("cpu", "cuda", "auto")

#: Names every kernel namespace provides.
KERNEL_NAMES = ("omp_gram", "omp", "omp_direct", "nnlasso_gram", "nnlasso_constrained_gram",
                "nmf_mu", "reconstruct")

#: Set to "1" to let "auto" (and "cuda") use Numba's CUDA simulator (tests only: it is slow).
ALLOW_SIMULATOR_ENV = "CSGENE_ALLOW_CUDASIM"


class DeviceError(Exception):
    """Base of the errors :func:`resolve_device` raises; each message names the fix."""


class UnknownDeviceError(DeviceError, ValueError):
    """``device`` is not one of :data:`DEVICES`."""


class CudaMissingError(DeviceError, ImportError):
    """CUDA was asked for and numba-cuda (extra ``cuda``) is not installed."""


class DeviceUnavailableError(DeviceError, RuntimeError):
    """CUDA was asked for, numba-cuda is installed, but no usable GPU or driver was found."""


def _numba_cuda_installed() -> bool:
    return importlib.util.find_spec("numba_cuda") is not None


def _simulator_requested() -> bool:
    """True when Numba's CUDA simulator is (or will be) what ``numba.cuda`` is."""
    import numba

    return bool(int(getattr(numba.config, "ENABLE_CUDASIM", 0) or 0))


def _cuda_problem() -> str | None:
    """Why CUDA cannot be used here, or None when it can."""
    if not _numba_cuda_installed():
        return "missing numba-cuda"
    if _simulator_requested():
        if os.environ.get(ALLOW_SIMULATOR_ENV) == "1":
            return None
        return (f"numba.cuda is Numba's CPU simulator (NUMBA_ENABLE_CUDASIM=1), not a GPU; set "
                f"{ALLOW_SIMULATOR_ENV}=1 to use it anyway (tests only), or unset NUMBA_ENABLE_CUDASIM")
    from numba import cuda

    try:
        if cuda.is_available():
            return None
    except Exception as exc:  # noqa: BLE001 - any driver failure means "no GPU here"
        return f"the CUDA driver failed to initialise ({exc})"
    return ("no CUDA GPU or NVIDIA driver was found (numba.cuda.is_available() is False); check "
            "`nvidia-smi`, install the NVIDIA driver, or use device='cpu'")


def resolve_device(device="auto") -> str:
    """The kernel set to use: ``"cpu"`` or ``"cuda"``.

    Parameters
    ----------
    device : {"cpu", "cuda", "auto"}, default="auto"
        ``"auto"`` picks CUDA only when a real GPU is usable (numba-cuda installed, driver and
        GPU present, not the simulator unless ``CSGENE_ALLOW_CUDASIM=1``), else the CPU.

    Returns
    -------
    str
        ``"cpu"`` or ``"cuda"``.

    Raises
    ------
    UnknownDeviceError
        ``device`` is not one of the three names.
    CudaMissingError
        ``"cuda"`` was asked for and numba-cuda is not installed.
    DeviceUnavailableError
        ``"cuda"`` was asked for and no GPU or driver is usable.
    """
    if not isinstance(device, str) or device.lower() not in DEVICES:
        raise UnknownDeviceError(f"device must be one of {', '.join(map(repr, DEVICES))}; got {device!r}. "
                                 f"Pass device='cpu', 'cuda' or 'auto'.")
    device = device.lower()
    if device == "cpu":
        return "cpu"
    problem = _cuda_problem()
    if problem is None:
        return "cuda"
    if device == "auto":
        return "cpu"
    if problem == "missing numba-cuda":
        raise CudaMissingError(
            "device='cuda' needs numba-cuda, which is not installed. "
            "Install it with: pip install 'csgene[cuda]' (or use device='cpu')")
    raise DeviceUnavailableError(f"device='cuda' cannot be used: {problem}.")


def _cpu_namespace():
    from . import nmf, nnlasso, omp, reconstruct

    return types.SimpleNamespace(
        device="cpu", omp_gram=omp.omp_gram, omp=omp.omp, omp_direct=omp.omp_direct,
        nnlasso_gram=nnlasso.nnlasso_gram,
        nnlasso_constrained_gram=nnlasso.nnlasso_constrained_gram,
        nmf_mu=nmf.nmf_mu, reconstruct=reconstruct.reconstruct)


def _cuda_namespace():
    from . import cuda as gpu

    return types.SimpleNamespace(device="cuda", **{name: getattr(gpu, name) for name in KERNEL_NAMES})


def kernels(device="cpu") -> types.SimpleNamespace:
    """The kernel functions for ``device`` (resolved with :func:`resolve_device`).

    Returns
    -------
    types.SimpleNamespace
        Attributes ``omp_gram, omp, omp_direct, nnlasso_gram, nnlasso_constrained_gram,
        nmf_mu, reconstruct`` (same signatures on both devices) and ``device``.
    """
    return _cuda_namespace() if resolve_device(device) == "cuda" else _cpu_namespace()
