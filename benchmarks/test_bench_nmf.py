"""Multiplicative-update NMF: ours vs scikit-learn's NMF(solver="mu"), same dtype, same start.

Case: X of 5,000 × 2,000 (nonnegative: make_sparse_problem clipped at 0), rank 100 and 500,
fixed iterations (tol=0 on both sides), float32 and float64, l1 = 0. The target case is 200
iterations; at this machine's speed that is minutes per run, so each side times
``CSGENE_BENCH_NMF_ITER`` iterations (default 20) and extra_info carries ``time_scale`` =
200 / iterations timed. Every iteration costs the same with tol=0, so times scale linearly
(both sides' fixed costs, e.g. scikit-learn's initial error, are then slightly over-counted).
"""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest
from sklearn.decomposition import NMF

from csgene_kernels.nmf import nmf_init, nmf_mu
from csgene_kernels.testing import make_sparse_problem

N_SAMPLES, N_FEATURES = 5_000, 2_000
TARGET_ITER = 200
N_ITER = int(os.environ.get("CSGENE_BENCH_NMF_ITER", "20"))
CASE = "nmf_mu"


@pytest.fixture(scope="module")
def data():
    problem = make_sparse_problem(N_SAMPLES, N_FEATURES, 200, 10, genes_per_module=0.1, seed=0)
    X64 = np.maximum(problem.X, 0.0)
    X32 = X64.astype(np.float32)
    for X in (X64, X32):  # compile / load cache with the same dtypes and layouts
        nmf_mu(X[:40, :30], *nmf_init(X[:40, :30], 3), max_iter=2)
    return {"float64": X64, "float32": X32}


def _start(X, rank):
    return nmf_init(X, rank, random_state=0)


def _info(record, side, rank, dtype, **extra):
    record(case=f"{CASE}_rank{rank}", side=side, shape=f"{N_SAMPLES}x{N_FEATURES},r={rank}",
           dtype=dtype, iterations_timed=N_ITER, iterations_target=TARGET_ITER,
           time_scale=TARGET_ITER / N_ITER, **extra)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("rank", [100, 500])
def test_nmf_ours(benchmark, record, data, rank, dtype):
    X = data[dtype]
    W0, H0 = _start(X, rank)
    _info(record, "ours", rank, dtype)
    W, H, n_iter, history = benchmark.pedantic(
        nmf_mu, args=(X, W0, H0), kwargs={"max_iter": N_ITER, "tol": 0.0}, rounds=1,
        iterations=1)
    assert n_iter == N_ITER
    benchmark.extra_info["objective"] = float(history[-1])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("rank", [100, 500])
def test_nmf_sklearn(benchmark, record, data, rank, dtype):
    X = data[dtype]
    W0, H0 = _start(X, rank)
    _info(record, "peer", rank, dtype, peer='sklearn NMF(solver="mu", init="custom")')
    model = NMF(rank, solver="mu", beta_loss="frobenius", init="custom", max_iter=N_ITER,
                tol=0.0)

    def fit():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ConvergenceWarning: fixed iterations on purpose
            return model.fit_transform(X, W=W0.copy(), H=H0.copy())

    W = benchmark.pedantic(fit, rounds=1, iterations=1)
    residual = X.astype(np.float64) - W.astype(np.float64) @ model.components_.astype(np.float64)
    benchmark.extra_info["objective"] = float(0.5 * np.sum(residual**2))
