"""numba.cuda twins of the CPU kernels: the same signatures, plus device arrays in and out.

Every function here takes what its CPU twin in :mod:`csgene_kernels` takes. Host (numpy)
inputs are copied to the device and the results come back as numpy arrays; when any array
argument is already on the device (a numba device array, or anything with
``__cuda_array_interface__`` such as CuPy arrays and CUDA torch tensors) the results stay on the
device as numba device arrays. So the Python layer picks a kernel set by ``device``
(:func:`csgene_kernels.device.kernels`) and nothing above it changes.

Importing this package imports ``numba.cuda`` (from the ``numba-cuda`` package, extra ``cuda``);
:mod:`csgene_kernels` itself never does. The kernels also run in Numba's CUDA simulator
(``NUMBA_ENABLE_CUDASIM=1`` set before ``numba.cuda`` is first imported), which is how the
tests exercise them on machines without a GPU; block sizes are module constants
(``THREADS_PER_BLOCK``, ``TILE``...) read at call time, so tests can make them small.

Device-array helpers shared by the submodules are defined first; the kernels are imported at
the bottom of this file.
"""

from __future__ import annotations

import numpy as np
from numba import cuda


def simulated() -> bool:
    """True when numba.cuda is Numba's CPU simulator (``NUMBA_ENABLE_CUDASIM=1``)."""
    return cuda.to_device.__module__.startswith("numba.cuda.simulator")


def is_device_array(x) -> bool:
    """True for numba device arrays and anything exposing ``__cuda_array_interface__``."""
    if simulated():
        return isinstance(x, cuda.devicearray.FakeCUDAArray)
    return cuda.is_cuda_array(x)


def any_on_device(*arrays) -> bool:
    """True when at least one argument is a device array (the results then stay on the device)."""
    return any(is_device_array(a) for a in arrays if a is not None)


def dtype_of(x):
    """dtype of a host or device array (or anything numpy can convert)."""
    return x.dtype if hasattr(x, "dtype") else np.asarray(x).dtype


def float_dtype(*arrays):
    """The common float dtype of the arguments: float32 or float64 (as the CPU kernels pick)."""
    dtype = np.result_type(*[dtype_of(a) for a in arrays])
    return dtype if dtype in (np.float32, np.float64) else np.dtype(np.float64)


def as_device(x, dtype=None):
    """A C-ordered numba device array of ``x`` in ``dtype`` (``x``'s own dtype when None).

    Host arrays are copied to the device. Device arrays already in the right dtype and layout
    are used as they are (no copy); others go through the host once (a slow path that the
    Python layer avoids by passing the dtype it validated).
    """
    if is_device_array(x):
        array = x if simulated() else cuda.as_cuda_array(x)
        if (dtype is None or array.dtype == np.dtype(dtype)) and array.is_c_contiguous():
            return array
        x = array.copy_to_host()
    return cuda.to_device(np.ascontiguousarray(x, dtype=dtype))


def device_full(shape, value, dtype):
    """A device array of ``shape`` filled with ``value`` (one host-to-device copy)."""
    return cuda.to_device(np.full(shape, value, dtype=dtype))


def to_output(array, on_device: bool):
    """``array`` itself when the caller passed device arrays, else its host copy."""
    return array if on_device else array.copy_to_host()


from .nmf import matmul, nmf_mu  # noqa: E402
from .nnlasso import nnlasso_constrained_gram, nnlasso_gram  # noqa: E402
from .omp import omp, omp_direct, omp_gram  # noqa: E402
from .reconstruct import reconstruct  # noqa: E402

__all__ = ["omp_gram", "omp", "omp_direct", "nnlasso_gram", "nnlasso_constrained_gram",
           "nmf_mu", "reconstruct", "matmul", "is_device_array", "as_device", "simulated"]
