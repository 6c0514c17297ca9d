"""Numba kernels of csgene: pure array functions with fixed dtypes and layouts, no validation.

The Python layer (:mod:`csgene`) validates inputs and picks float32 or float64; these
functions trust what they get. Every kernel has a slow reference it is tested against.

Sparse codes are stored as two (n_samples, k) arrays: ``indices`` (int64, -1 = unused slot)
and ``values`` (float, 0 in unused slots), in the order OMP selected the atoms.
"""

from .config import FASTMATH  # noqa: F401
from .threads import available_cores, limit_threads  # noqa: F401
