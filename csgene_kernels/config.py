"""Tuning constants for the Numba kernels, kept in one place.

``FASTMATH`` allows reassociation (vectorised reductions) and contraction (FMA) but never
``nnan``/``ninf``: the kernels rely on NaN/inf checks staying meaningful.
"""

FASTMATH = {"nsz", "arcp", "contract", "afn", "reassoc"}  # numba needs a set, not a frozenset

#: ``cache=True`` writes compiled kernels next to the sources (or to ``NUMBA_CACHE_DIR``).
CACHE = True

#: Relative threshold below which a Cholesky pivot means "linearly dependent atom" in OMP.
OMP_DEPENDENCE_TOL = 1e-10
