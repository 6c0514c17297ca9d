"""Thread control for Numba ``prange`` regions and the BLAS calls around them.

OpenBLAS threads keep spinning for a while after a GEMM and steal cores from the next
``prange`` loop; :func:`limit_threads` caps both pools and restores them in ``finally``.
"""

from __future__ import annotations

import contextlib
import os

from threadpoolctl import threadpool_limits


def available_cores() -> int:
    """Cores this process may use (respects CPU affinity)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


@contextlib.contextmanager
def limit_threads(numba_threads: int | None = None, blas_threads: int | None = None):
    """Temporarily set the Numba thread count and cap BLAS threads; restored on exit.

    Parameters
    ----------
    numba_threads : int, optional
        Threads for ``prange`` loops (clipped to ``numba.config.NUMBA_NUM_THREADS``).
        ``None`` leaves the current setting.
    blas_threads : int, optional
        Cap for BLAS/OpenMP pools (through threadpoolctl). ``None`` leaves them.
    """
    import numba  # here, not at the top: csgene_kernels.device must import without numba

    previous = numba.get_num_threads()
    blas_ctx = threadpool_limits(blas_threads) if blas_threads is not None else contextlib.nullcontext()
    try:
        if numba_threads is not None:
            numba.set_num_threads(max(1, min(int(numba_threads), numba.config.NUMBA_NUM_THREADS)))
        with blas_ctx:
            yield
    finally:
        numba.set_num_threads(previous)
