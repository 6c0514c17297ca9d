"""OMP kernels against scikit-learn (and SPAMS when installed), same inputs, same thread caps.

What each side's timing includes:

* ``recovery_omp_vs_sklearn``: both get the precomputed Gram matrix and correlations
  (ours :func:`omp_gram`, peer ``orthogonal_mp_gram``); no BLAS on either side.
* ``recovery_omp_vs_spams``: both start from D and Y (ours :func:`omp` computes DᵀD and Y D with
  BLAS; ``spams.omp`` does the same internally). D has unit-norm columns, as SPAMS assumes.
* ``direct_omp``: both start from U and X (ours :func:`omp_direct`; peer
  ``orthogonal_mp(precompute=True)``), Gram and correlations included on both sides.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.linear_model import orthogonal_mp, orthogonal_mp_gram

from csgene_kernels.omp import omp, omp_direct, omp_gram
from csgene_kernels.testing import make_sparse_problem

K = 15
RECOVERY = dict(n_samples=10_000, n_genes=5_000, n_modules=500, n_measurements=100)
DIRECT = dict(n_samples=2_000, n_genes=5_000, n_modules=500)


@pytest.fixture(scope="module")
def recovery():
    """D = A Uᵀ (d=100, m=500) with Gaussian A, Y = X Aᵀ for 10,000 realistic samples."""
    p = RECOVERY
    problem = make_sparse_problem(p["n_samples"], p["n_genes"], p["n_modules"], K, seed=0)
    A = np.random.default_rng(1).standard_normal((p["n_measurements"], p["n_genes"]))
    D = A @ problem.U.T
    Y = problem.X @ A.T
    return D, Y


@pytest.fixture(scope="module")
def direct():
    p = DIRECT
    problem = make_sparse_problem(p["n_samples"], p["n_genes"], p["n_modules"], K, seed=2)
    return problem.U, problem.X


def quiet(function, *args, **kwargs):
    """Call a scikit-learn OMP with its premature-stop warnings silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return function(*args, **kwargs)


def _shape(D, Y):
    return f"d={D.shape[0]} m={D.shape[1]} k={K} n={Y.shape[0]}"


def test_recovery_omp_ours(benchmark, record, recovery):
    D, Y = recovery
    gram, dty = D.T @ D, np.ascontiguousarray(Y @ D)
    omp_gram(gram, dty[:8], K)  # JIT warm-up, same dtype and layout
    record(case="recovery_omp_vs_sklearn", side="ours", shape=_shape(D, Y), dtype="float64",
           includes="Gram and correlations precomputed")
    benchmark.pedantic(omp_gram, args=(gram, dty, K), rounds=5, iterations=1, warmup_rounds=1)


def test_recovery_omp_sklearn(benchmark, record, recovery):
    D, Y = recovery
    gram, dty_t = D.T @ D, np.asfortranarray((Y @ D).T)
    record(case="recovery_omp_vs_sklearn", side="orthogonal_mp_gram", shape=_shape(D, Y),
           dtype="float64", includes="Gram and correlations precomputed", target=40.0)
    benchmark.pedantic(quiet, args=(orthogonal_mp_gram, gram, dty_t),
                       kwargs=dict(n_nonzero_coefs=K), rounds=1, iterations=1)


def _unit_columns(D):
    return D / np.linalg.norm(D, axis=0)


def test_recovery_omp_ours_from_d(benchmark, record, recovery):
    D, Y = recovery
    D = _unit_columns(D)
    omp(D, Y[:8], K)
    record(case="recovery_omp_vs_spams", side="ours", shape=_shape(D, Y), dtype="float64",
           includes="DᵀD and Y D with BLAS")
    benchmark.pedantic(omp, args=(D, Y, K), rounds=5, iterations=1, warmup_rounds=1)


def test_recovery_omp_spams(benchmark, record, recovery, bench_threads):
    spams = pytest.importorskip("spams", reason="spams-bin not installed (pip install spams-bin)")
    D, Y = recovery
    D_f = np.asfortranarray(_unit_columns(D))
    Y_f = np.asfortranarray(Y.T)
    spams.omp(Y_f[:, :8], D_f, L=K, numThreads=bench_threads)
    record(case="recovery_omp_vs_spams", side="spams.omp", shape=_shape(D, Y), dtype="float64",
           includes="DᵀD and Dᵀy inside spams", target=1.5)
    benchmark.pedantic(spams.omp, args=(Y_f, D_f), kwargs=dict(L=K, numThreads=bench_threads),
                       rounds=5, iterations=1, warmup_rounds=1)


def test_direct_omp_ours(benchmark, record, direct):
    U, X = direct
    omp_direct(U, X[:8], K)
    record(case="direct_omp", side="ours", shape=f"g={U.shape[1]} m={U.shape[0]} k={K} n={X.shape[0]}",
           dtype="float64", includes="U Uᵀ and X Uᵀ with BLAS")
    benchmark.pedantic(omp_direct, args=(U, X, K), rounds=5, iterations=1, warmup_rounds=1)


def test_direct_omp_sklearn(benchmark, record, direct):
    U, X = direct
    U_t, X_t = U.T, X.T
    record(case="direct_omp", side="orthogonal_mp", shape=f"g={U.shape[1]} m={U.shape[0]} k={K} n={X.shape[0]}",
           dtype="float64", includes="Gram and Xy inside (precompute=True)", target=8.0)
    benchmark.pedantic(quiet, args=(orthogonal_mp, U_t, X_t),
                       kwargs=dict(n_nonzero_coefs=K, precompute=True), rounds=1, iterations=1)
