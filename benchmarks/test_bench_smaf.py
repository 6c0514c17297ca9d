"""SMAF fit: csgene (Numba kernels) vs the same algorithm on scikit-learn solvers (``naive.smaf``).

Default case: 2,000 samples × 5,000 genes, 500 modules, λ₁ = 15, default λ₂, 2 iterations for
both sides (the scikit-learn U-step needs one multi-target Lasso per λ-bisection step, so 10
iterations would take hours). Override with ``CSGENE_BENCH_SMAF="samples,genes,modules,iters"``.
Both sides start from the same seeded activities; the comparison asserts the final fit agrees
within 1 % and records the speed-up (target >= 10×) in ``extra_info``.

Run: ``python -m pytest benchmarks/test_bench_smaf.py --benchmark-only -s``
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from csgene.dictionary import SMAF
from csgene_kernels.testing import make_sparse_problem

import naive  # tests/naive.py, put on sys.path by benchmarks/conftest.py

SHAPE = tuple(int(v) for v in os.environ.get("CSGENE_BENCH_SMAF", "2000,5000,500,2").split(","))
N_SAMPLES, N_GENES, N_MODULES, N_ITER = SHAPE
SPARSITY = 15
RESULTS: dict[str, dict] = {}


@pytest.fixture(scope="module")
def expression():
    """Nonnegative planted-module data of the benchmark shape; SMAF's kernels warmed up."""
    problem = make_sparse_problem(N_SAMPLES, N_GENES, N_MODULES, SPARSITY, genes_per_module=0.02,
                                  noise=0.1, seed=0)
    X = np.clip(problem.X, 0, None)
    SMAF(20, max_iter=1, random_state=0).fit(X[:50, :100])  # JIT compile outside the timing
    return X


def summarise(history, seconds):
    return {"fit": history[-1]["fit"], "k": history[-1]["k"], "seconds": seconds,
            "module_size": history[-1]["module_size"]}


def test_smaf_csgene(benchmark, record, expression):
    record(case="smaf_fit", side="csgene", shape=SHAPE)
    model = benchmark.pedantic(
        lambda: SMAF(N_MODULES, sparsity=SPARSITY, max_iter=N_ITER, random_state=0).fit(expression),
        rounds=1, iterations=1,
    )
    RESULTS["csgene"] = summarise(model.history_, benchmark.stats.stats.mean)
    benchmark.extra_info.update(RESULTS["csgene"])


def test_smaf_sklearn_reference(benchmark, record, expression):
    record(case="smaf_fit", side="sklearn_reference", shape=SHAPE)
    _, _, history = benchmark.pedantic(
        lambda: naive.smaf(expression, N_MODULES, sparsity=SPARSITY, max_iter=N_ITER, random_state=0),
        rounds=1, iterations=1,
    )
    RESULTS["reference"] = summarise(history, benchmark.stats.stats.mean)
    benchmark.extra_info.update(RESULTS["reference"])


def test_smaf_same_objective_and_speedup():
    if set(RESULTS) != {"csgene", "reference"}:
        pytest.skip("needs both timed fits of this module in the same run")
    ours, ref = RESULTS["csgene"], RESULTS["reference"]
    speedup = ref["seconds"] / ours["seconds"]
    print(f"\nSMAF {SHAPE}: csgene {ours['seconds']:.1f} s, scikit-learn {ref['seconds']:.1f} s, "
          f"speed-up {speedup:.1f}x; fit {ours['fit']:.4f} vs {ref['fit']:.4f}, k {ours['k']} vs {ref['k']}")
    assert abs(ours["fit"] - ref["fit"]) <= 0.01 * abs(ref["fit"])
    assert ours["k"] == ref["k"]
