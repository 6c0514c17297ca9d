"""Nonnegative lasso, SMAF's U-step (every gene a target): ours vs scikit-learn and SPAMS.

Case: g = 5,000 targets (genes), m = 500 modules, n = 2,000 samples, one λ for all targets
(a tenth of the median λ_max), tol = 1e-6 on every side. Inputs are the same arrays, each side
in its preferred layout (SPAMS wants Fortran order; the conversion is not timed). The time of
each side includes its Gram products (ours: WᵀW and XᵀW; scikit-learn precompute=True;
SPAMS computes them inside ``spams.lasso``). Each benchmark stores the objective agreement
with ours on the first targets in extra_info (``max_rel_objective_gap``).
"""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import Lasso

from csgene_kernels.nnlasso import nnlasso
from csgene_kernels.testing import make_sparse_problem

import naive  # tests/naive.py, put on sys.path by benchmarks/conftest.py

N_SAMPLES, N_TARGETS, N_MODULES, K_ACTIVE = 2_000, 5_000, 500, 10
TOL = 1e-6
#: λ as a fraction of the targets' median λ_max (``CSGENE_BENCH_LAMBDA``; issue 17 names 0.05)
LAMBDA_FRACTION = float(os.environ.get("CSGENE_BENCH_LAMBDA", "0.1"))
CASE = "nnlasso_smaf_u_step"
SHAPE = f"g={N_TARGETS},m={N_MODULES},n={N_SAMPLES}"
N_CHECKED = 200  # targets whose objectives are compared across sides


@pytest.fixture(scope="module")
def u_step():
    """Design W (n, m), targets X (n, g), λ, and our reference answer (also warms the JIT)."""
    problem = make_sparse_problem(N_SAMPLES, N_TARGETS, N_MODULES, K_ACTIVE, seed=0)
    W, X = problem.W, problem.X
    lam = LAMBDA_FRACTION * float(np.median((X.T @ W).max(axis=1)))
    nnlasso(W[:50], X[:50, :300], lam)  # compile / load cache with the same dtypes and layouts
    coef, n_iter = nnlasso(W, X, lam, tol=TOL)
    return W, X, lam, coef, n_iter


def _objectives(W, X, coef, lam):
    return naive.nnlasso_objective(W, X[:, :N_CHECKED], coef[:N_CHECKED], lam)


def _agreement(u_step, coef):
    W, X, lam, ours, _ = u_step
    reference = _objectives(W, X, ours, lam)
    return float(np.max(np.abs(_objectives(W, X, coef, lam) - reference) / reference))


def test_nnlasso_ours(benchmark, record, u_step):
    W, X, lam, _, n_iter = u_step
    record(case=CASE, side="ours", shape=SHAPE, dtype="float64", lam=lam, tol=TOL,
           mean_sweeps=float(n_iter.mean()), design_density=float(np.mean(W != 0)))
    coef, _ = benchmark.pedantic(nnlasso, args=(W, X, lam), kwargs={"tol": TOL}, rounds=3,
                                 iterations=1, warmup_rounds=1)
    benchmark.extra_info["max_rel_objective_gap"] = _agreement(u_step, coef)


def test_nnlasso_sklearn(benchmark, record, u_step):
    W, X, lam, _, _ = u_step
    record(case=CASE, side="peer", peer="sklearn.Lasso(positive=True, precompute=True)",
           shape=SHAPE, dtype="float64", lam=lam, tol=TOL)
    model = Lasso(alpha=lam / N_SAMPLES, positive=True, precompute=True, fit_intercept=False,
                  tol=TOL, max_iter=10_000)

    def fit():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            return model.fit(W, X).coef_

    coef = benchmark.pedantic(fit, rounds=1, iterations=1)
    benchmark.extra_info["max_rel_objective_gap"] = _agreement(u_step, coef)


def test_nnlasso_spams(benchmark, record, u_step, bench_threads):
    spams = pytest.importorskip(
        "spams", reason="SPAMS peer needs `pip install spams-bin` (Linux wheels)")
    W, X, lam, _, _ = u_step
    record(case=CASE, side="peer", peer="spams.lasso(mode=2, pos=True)", shape=SHAPE,
           dtype="float64", lam=lam)
    W_f, X_f = np.asfortranarray(W), np.asfortranarray(X)

    def fit():
        return spams.lasso(X_f, D=W_f, lambda1=lam, mode=2, pos=True, numThreads=bench_threads)

    coef = benchmark.pedantic(fit, rounds=3, iterations=1, warmup_rounds=1)
    benchmark.extra_info["max_rel_objective_gap"] = _agreement(u_step, coef.toarray().T)
