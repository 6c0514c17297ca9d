"""Shared benchmark setup: thread counts, BLAS info in extra_info, and JIT warm-up.

Both sides of a comparison run with the same number of threads (``CSGENE_BENCH_THREADS``,
default 2) and the same BLAS. OpenBLAS worker threads spin after a GEMM and slow a following
``prange`` loop, so the BLAS pool and the Numba pool are both capped at that count.

The slow references the benchmarks time csgene against are the tests' own, ``tests/naive.py``:
this file puts that folder on ``sys.path`` so a benchmark can ``import naive``.
"""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

import pytest
from threadpoolctl import threadpool_info

from csgene_kernels.threads import limit_threads

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

BENCH_THREADS = int(os.environ.get("CSGENE_BENCH_THREADS", "2"))


@pytest.fixture
def bench_threads():
    """Cap Numba and BLAS threads at BENCH_THREADS for the duration of a benchmark."""
    with limit_threads(numba_threads=BENCH_THREADS, blas_threads=BENCH_THREADS):
        yield BENCH_THREADS


@pytest.fixture
def record(benchmark, bench_threads):
    """Return a function that stores case metadata (case, side, shape...) in extra_info."""

    def _record(**info):
        benchmark.extra_info.update(info)
        benchmark.extra_info["threads"] = bench_threads
        benchmark.extra_info["machine"] = platform.node()
        benchmark.extra_info["threadpool_info"] = threadpool_info()

    return _record
