"""Sparse reconstruction (gather the k active atoms) against a dense ``codes @ U`` GEMM.

The peer gets its dense (n, m) code matrix for free (built outside the timing); both sides
allocate their (n, g) output inside the timing.
"""

from __future__ import annotations

import numpy as np
import pytest

from csgene_kernels.omp import codes_to_dense
from csgene_kernels.reconstruct import reconstruct
from csgene_kernels.testing import make_sparse_problem

K = 15
N_SAMPLES, N_GENES, N_MODULES = 2_000, 35_238, 500


@pytest.fixture(scope="module")
def codes_and_components():
    problem = make_sparse_problem(N_SAMPLES, N_GENES, N_MODULES, K, noise=0.0, seed=3)
    order = np.argsort(problem.W == 0, axis=1, kind="stable")[:, :K]  # the K active modules
    indices = np.ascontiguousarray(order, dtype=np.int64)
    values = np.take_along_axis(problem.W, indices, axis=1)
    return indices, values, problem.U


SHAPE = f"g={N_GENES} m={N_MODULES} k={K} n={N_SAMPLES}"


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_reconstruct_ours(benchmark, record, codes_and_components, dtype):
    indices, values, U = codes_and_components
    values, U = values.astype(dtype), U.astype(dtype)
    reconstruct(indices[:4], values[:4], U)
    record(case=f"reconstruction_{np.dtype(dtype).name}", side="ours", shape=SHAPE,
           dtype=np.dtype(dtype).name, includes="output allocation")
    benchmark.pedantic(reconstruct, args=(indices, values, U), rounds=5, iterations=1,
                       warmup_rounds=1)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_reconstruct_dense(benchmark, record, codes_and_components, dtype):
    indices, values, U = codes_and_components
    dense, U = codes_to_dense(indices, values, N_MODULES).astype(dtype), U.astype(dtype)
    record(case=f"reconstruction_{np.dtype(dtype).name}", side="dense codes @ U", shape=SHAPE,
           dtype=np.dtype(dtype).name, includes="output allocation", target=5.0)
    benchmark.pedantic(np.matmul, args=(dense, U), rounds=5, iterations=1, warmup_rounds=1)
