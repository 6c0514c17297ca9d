"""Profiles from sparse codes on the GPU: the twin of :mod:`csgene_kernels.reconstruct`.

One thread per output entry: x-threads run along genes (coalesced reads of ``components`` and
writes of ``out``), the y-dimension of the grid over samples (looping when there are more
than ``MAX_SAMPLE_BLOCKS``). Every entry is summed in slot order, as on the CPU.
"""

from __future__ import annotations

import math

import numpy as np
from numba import cuda

from . import any_on_device, as_device, float_dtype, to_output

#: Threads per block, along genes.
THREADS_PER_BLOCK = 128
#: Most blocks along samples (CUDA limits the grid's y-dimension to 65,535).
MAX_SAMPLE_BLOCKS = 65535


@cuda.jit
def _reconstruct_kernel(indices, values, components, out):
    gene = cuda.blockIdx.x * cuda.blockDim.x + cuda.threadIdx.x
    if gene >= components.shape[1]:
        return
    for i in range(cuda.blockIdx.y, indices.shape[0], cuda.gridDim.y):
        acc = 0.0
        for slot in range(indices.shape[1]):
            atom = indices[i, slot]
            if atom >= 0:
                acc += values[i, slot] * components[atom, gene]
        out[i, gene] = acc


def reconstruct(indices, values, components):
    """``x̂_i = Σ_j values[i, j] · components[indices[i, j]]`` on the GPU.

    Same parameters and returns as :func:`csgene_kernels.reconstruct.reconstruct`; the result
    is a device array when any argument is one, else a numpy array.
    """
    on_device = any_on_device(indices, values, components)
    components = as_device(components, float_dtype(components))
    indices = as_device(indices, np.int64)
    values = as_device(values, components.dtype)
    n, g = indices.shape[0], components.shape[1]
    out = cuda.device_array((n, g), components.dtype)
    if n and g:
        grid = (math.ceil(g / THREADS_PER_BLOCK), min(n, MAX_SAMPLE_BLOCKS))
        _reconstruct_kernel[grid, THREADS_PER_BLOCK](indices, values, components, out)
    return to_output(out, on_device)
