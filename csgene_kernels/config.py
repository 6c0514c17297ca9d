"""Tuning constants for the Numba kernels (CPU and CUDA twins alike), kept in one place.

``FASTMATH`` allows reassociation (vectorised reductions) and contraction (FMA) but never
``nnan``/``ninf``: the kernels rely on NaN/inf checks staying meaningful. Launch geometry that
only one twin has (tiles, threads per block) stays in that twin's file.
"""

import numpy as np

FASTMATH = {"nsz", "arcp", "contract", "afn", "reassoc"}  # numba needs a set, not a frozenset

#: ``cache=True`` writes compiled kernels next to the sources (or to ``NUMBA_CACHE_DIR``).
CACHE = True

# -- OMP ------------------------------------------------------------------------------------

#: Relative threshold below which a Cholesky pivot means "linearly dependent atom" in OMP.
OMP_DEPENDENCE_TOL = 1e-10

#: Multiple of the dtype's machine epsilon under which a Cholesky pivot (relative to the atom's
#: squared norm) means "dependent atom"; float32 pivots carry rounding noise far above
#: ``OMP_DEPENDENCE_TOL``.
DEPENDENCE_EPS_FACTOR = 100.0

# -- nonnegative lasso ----------------------------------------------------------------------

#: The constrained search gives up (flags the target infeasible) below λ_max · LAM_MIN_RATIO.
LAM_MIN_RATIO = 1e-6

#: Factor by which λ falls while no feasible solution has been found.
DESCENT_FACTOR = 0.1

#: Coordinate sweeps of one penalised solve before face steps may start (a target that converges
#: within them is solved by plain coordinate descent, as the CUDA twin does).
FACE_STEP_AFTER = 10

#: Fewest sweeps between two face steps; more when the support is large (a face step costs about
#: ``n_active² / 3`` multiply-adds per coordinate of a sweep's ``n_active · m``).
FACE_STEP_EVERY = 2

#: Most coordinates a face step may drop (each drop is one more Cholesky solve on the smaller
#: support, as in Lawson and Hanson's NNLS).
FACE_STEP_DROPS = 50

#: A face step is abandoned when a Cholesky pivot falls below this fraction of its diagonal
#: entry (a singular or nearly singular Gram on the support).
FACE_STEP_PIVOT_TOL = 1e-10

# -- NMF ------------------------------------------------------------------------------------

#: Iterations between objective evaluations (and convergence checks), as in scikit-learn.
CHECK_EVERY = 10

#: Floor of the update denominators (scikit-learn's EPSILON).
DENOMINATOR_FLOOR = float(np.finfo(np.float32).eps)
