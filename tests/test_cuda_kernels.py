"""The numba.cuda twins against the CPU kernels, in the CUDA simulator and on a real GPU.

Every case is parametrised over two modes:

* ``simulator``: Numba's CUDA simulator on the CPU, with tiny block sizes so that several
  blocks launch (and blocks loop over several samples). The simulator must be switched on
  before ``numba.cuda`` is first imported, so these cases run in a child pytest process
  started by :func:`test_cuda_cases_in_simulator_subprocess` with ``NUMBA_ENABLE_CUDASIM=1``;
  in the parent session they are skipped with that reason (the parent test fails if any fails).
* ``gpu``: the real device with the production block sizes; skipped only when no GPU is usable.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from csgene_kernels import nmf as nmf_cpu
from csgene_kernels import nnlasso as nnlasso_cpu
from csgene_kernels import omp as omp_cpu
from csgene_kernels import reconstruct as reconstruct_cpu

IN_SIMULATOR = os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"
HAVE_NUMBA_CUDA = importlib.util.find_spec("numba_cuda") is not None

#: Block sizes for the simulator: small, so tiny inputs still launch several blocks.
SIMULATOR_SIZES = {
    "omp": {"THREADS_PER_BLOCK": 2, "MAX_BLOCKS": 2, "ROWS_PER_BLOCK": 2},
    "nnlasso": {"THREADS_PER_BLOCK": 2, "MAX_BLOCKS": 2},
    "nmf": {"TILE": 2, "ROWS_PER_BLOCK": 4, "REDUCE_THREADS": 4},
    "reconstruct": {"THREADS_PER_BLOCK": 4, "MAX_SAMPLE_BLOCKS": 3},
}


def _gpu_usable() -> bool:
    if IN_SIMULATOR or not HAVE_NUMBA_CUDA:
        return False
    from csgene_kernels.device import _cuda_problem

    return _cuda_problem() is None


@pytest.fixture(params=["simulator", "gpu"])
def kc(request, monkeypatch):
    """The csgene_kernels.cuda package in the requested mode (or a skip saying why not)."""
    if not HAVE_NUMBA_CUDA:
        pytest.skip("numba-cuda is not installed (pip install 'csgene[cuda]')")
    if request.param == "simulator":
        if not IN_SIMULATOR:
            pytest.skip("simulator cases run in a child process: "
                        "test_cuda_cases_in_simulator_subprocess")
    elif not _gpu_usable():
        pytest.skip("no usable CUDA GPU here")
    import importlib

    import csgene_kernels.cuda as kc

    if request.param == "simulator":
        # the package re-exports functions named like its modules (omp, nmf_mu...): import by path
        for name, sizes in SIMULATOR_SIZES.items():
            module = importlib.import_module(f"csgene_kernels.cuda.{name}")
            for constant, value in sizes.items():
                monkeypatch.setattr(module, constant, value)
    return kc


def test_cuda_cases_in_simulator_subprocess(pytestconfig):
    if IN_SIMULATOR:
        pytest.skip("already in the simulator child process")
    if not HAVE_NUMBA_CUDA:
        pytest.skip("numba-cuda is not installed (pip install 'csgene[cuda]')")
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
    marks = pytestconfig.getoption("markexpr") or ""  # "-m 'not slow'" reaches the child too
    result = subprocess.run(
        [sys.executable, "-m", "pytest", __file__, "-q", "-k", "simulator", "-p", "no:cacheprovider",
         "-m", marks, "-W", "ignore::numba.core.errors.NumbaPerformanceWarning"],
        env=env, capture_output=True, text=True, timeout=600)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    passed = re.search(r"(\d+) passed", output)
    assert passed and int(passed.group(1)) >= 12, output[-3000:]
    assert "failed" not in output.splitlines()[-1], output[-3000:]


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------
def _assert_codes_match(gpu, cpu, rtol=1e-9, atol=1e-10):
    gpu_indices, gpu_values = gpu
    cpu_indices, cpu_values = cpu
    assert gpu_indices.dtype == np.int64 and gpu_indices.shape == cpu_indices.shape
    assert gpu_values.dtype == cpu_values.dtype
    np.testing.assert_array_equal(gpu_indices, cpu_indices)
    assert np.all(np.isfinite(gpu_values))
    np.testing.assert_allclose(gpu_values, cpu_values, rtol=rtol, atol=atol)


def _nonneg_problem(rng, n_samples=6, m=3, n_targets=3):
    W = np.abs(rng.standard_normal((n_samples, m)))
    X = W @ np.abs(rng.standard_normal((m, n_targets))) + 0.1 * rng.standard_normal((n_samples, n_targets))
    return W, X, W.T @ W, np.ascontiguousarray(X.T @ W), (X ** 2).sum(axis=0)


# --------------------------------------------------------------------------------------------
# OMP
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_omp_matches_cpu(kc, dtype):
    rng = np.random.default_rng(1)
    D = rng.standard_normal((8, 6)).astype(dtype)
    Y = rng.standard_normal((4, 8)).astype(dtype)
    tol = dict(rtol=1e-4, atol=1e-4) if dtype == np.float32 else {}
    _assert_codes_match(kc.omp(D, Y, 3), omp_cpu.omp(D, Y, 3), **tol)
    _assert_codes_match(kc.omp_direct(D.T.copy(), Y, 2), omp_cpu.omp_direct(D.T.copy(), Y, 2), **tol)


def test_omp_gram_edge_cases(kc):
    rng = np.random.default_rng(2)
    D = rng.standard_normal((6, 5))
    D[:, 1] = 0.0            # zero atom: never chosen
    D[:, 3] = 2.0 * D[:, 0]  # dependent atom: skipped once atom 0 (or 3) is in
    Y = rng.standard_normal((5, 6))
    Y[2] = 0.0               # zero signal: no atom, no NaN
    Y[3] = D[:, 0] + D[:, 2]
    gram, dty = D.T @ D, Y @ D
    for k in (2, 8):         # k beyond the rank (3) and the number of atoms (5)
        gpu = kc.omp_gram(gram, dty, k)
        _assert_codes_match(gpu, omp_cpu.omp_gram(gram, dty, k))
        assert np.all(gpu[0][2] == -1)
        assert not np.isin(1, gpu[0])
    norms = (Y ** 2).sum(axis=1)
    for tol in (1e-6, 0.5 * norms.mean(), 10 * norms.max()):
        _assert_codes_match(kc.omp_gram(gram, dty, 4, tol, norms),
                            omp_cpu.omp_gram(gram, dty, 4, tol, norms))
    with pytest.raises(ValueError, match="y_sq_norms"):
        kc.omp_gram(gram, dty, 3, tol=1.0)


def test_omp_ties_go_to_lowest_index(kc):
    gram = np.eye(6)
    dty = np.array([[1.0, 3.0, -3.0, 3.0, 2.0, 3.0], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0]])
    indices, values = kc.omp_gram(gram, dty, 3)
    np.testing.assert_array_equal(indices, [[1, 2, 3], [-1, -1, -1]])
    np.testing.assert_allclose(values, [[3.0, -3.0, 3.0], [0.0, 0.0, 0.0]])


def test_device_arrays_in_and_out(kc):
    from numba import cuda

    rng = np.random.default_rng(3)
    D = rng.standard_normal((8, 6))
    Y = rng.standard_normal((5, 8))
    gram, dty = D.T @ D, Y @ D
    indices, values = kc.omp_gram(cuda.to_device(gram), cuda.to_device(dty), 3)
    assert kc.is_device_array(indices) and kc.is_device_array(values)
    _assert_codes_match((indices.copy_to_host(), values.copy_to_host()), omp_cpu.omp_gram(gram, dty, 3))
    host = kc.reconstruct(*omp_cpu.omp_gram(gram, dty, 3), D.T.copy())
    assert isinstance(host, np.ndarray)
    on_device = kc.reconstruct(indices, values, cuda.to_device(D.T.copy()))
    np.testing.assert_allclose(on_device.copy_to_host(), host)


# --------------------------------------------------------------------------------------------
# nonnegative lasso
# --------------------------------------------------------------------------------------------
def test_nnlasso_gram_matches_cpu(kc):
    rng = np.random.default_rng(4)
    W, X, gram, cov, norms = _nonneg_problem(rng, m=4)
    gram[2, :] = gram[:, 2] = 0.0  # a zero column of W: its coefficient stays 0
    cov[:, 2] = 0.0
    lam = rng.uniform(0.05, 2.0, size=cov.shape[0])
    coef, n_iter = kc.nnlasso_gram(gram, cov, norms, lam, tol=1e-8)
    coef_cpu, n_iter_cpu = nnlasso_cpu.nnlasso_gram(gram, cov, norms, lam, tol=1e-8)
    # the CPU kernel takes face steps after FACE_STEP_AFTER sweeps and the twin does not, so a
    # target still running then is solved by different steps: equal within the tolerance
    _assert_same_lasso_objective(gram, cov, norms, lam, coef, coef_cpu, tol=1e-8)
    assert np.all(n_iter_cpu <= n_iter)
    assert np.all(coef >= 0) and np.all(coef[:, 2] == 0)
    init = np.abs(rng.standard_normal(cov.shape)) - 0.3  # negative entries are clipped
    coef, n_iter = kc.nnlasso_gram(gram, cov, norms, 0.3, init=init, max_iter=3)
    coef_cpu, n_iter_cpu = nnlasso_cpu.nnlasso_gram(gram, cov, norms, 0.3, init=init, max_iter=3)
    np.testing.assert_allclose(coef, coef_cpu, rtol=1e-8, atol=1e-10)
    np.testing.assert_array_equal(n_iter, n_iter_cpu)


def _assert_same_lasso_objective(gram, cov, norms, lam, coef, coef_cpu, tol):
    """Both solutions meet the duality-gap tolerance, so their objectives (from the Gram
    quantities the kernels saw) agree within it."""
    lam = np.broadcast_to(lam, (cov.shape[0],))
    for t in range(cov.shape[0]):
        ours, cpu = (0.5 * (norms[t] - 2 * cov[t] @ u + u @ gram @ u) + lam[t] * u.sum()
                     for u in (coef[t], coef_cpu[t]))
        assert abs(ours - cpu) <= tol * norms[t] + 1e-12 * abs(cpu)
    np.testing.assert_allclose(coef, coef_cpu, rtol=1e-3, atol=1e-4 * max(1.0, np.abs(coef_cpu).max()))


def _check_constrained(kc, eps_factors, warm_start):
    rng = np.random.default_rng(5)
    W, X, gram, cov, norms = _nonneg_problem(rng, n_targets=len(eps_factors))
    eps = norms * np.asarray(eps_factors)
    options = dict(tol=1e-6, max_iter=50, rtol_search=1e-2)
    coef, lam, feasible = kc.nnlasso_constrained_gram(gram, cov, norms, eps, **options)
    coef_cpu, lam_cpu, feasible_cpu = nnlasso_cpu.nnlasso_constrained_gram(gram, cov, norms, eps, **options)
    # face steps on the CPU only (see test_nnlasso_gram_matches_cpu): equal within the inner
    # solves' tolerance (1e-6), not bit for bit
    np.testing.assert_array_equal(feasible, feasible_cpu)
    np.testing.assert_allclose(lam, lam_cpu, rtol=1e-4)
    np.testing.assert_allclose(coef, coef_cpu, rtol=1e-3, atol=1e-4)
    if warm_start:
        coef, lam, _ = kc.nnlasso_constrained_gram(gram, cov, norms, eps, init=coef_cpu, **options)
        coef_cpu, lam_cpu, _ = nnlasso_cpu.nnlasso_constrained_gram(gram, cov, norms, eps,
                                                                    init=coef_cpu, **options)
        np.testing.assert_allclose(lam, lam_cpu, rtol=1e-4)
        np.testing.assert_allclose(coef, coef_cpu, rtol=1e-3, atol=1e-4)
    return coef, feasible


def test_nnlasso_constrained_matches_cpu(kc):
    coef, feasible = _check_constrained(kc, [0.3, 2.0], warm_start=False)
    np.testing.assert_array_equal(feasible, [True, True])
    assert np.all(coef[1] == 0) and np.any(coef[0] > 0)  # ‖x‖² <= eps: the zero answer


@pytest.mark.slow
def test_nnlasso_constrained_infeasible_and_warm_start(kc):
    _, feasible = _check_constrained(kc, [0.05, 1e-9], warm_start=True)
    np.testing.assert_array_equal(feasible, [True, False])


# --------------------------------------------------------------------------------------------
# NMF, products, reconstruction
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("trans_a, trans_b", [(False, False), (True, False), (False, True)])
def test_matmul_matches_numpy(kc, trans_a, trans_b):
    from numba import cuda

    rng = np.random.default_rng(6)
    a = rng.standard_normal((5, 3))
    b = rng.standard_normal((3, 4)) if not trans_a else rng.standard_normal((5, 4))
    if trans_b:
        b = rng.standard_normal((4, 3))
    expected = (a.T if trans_a else a) @ (b.T if trans_b else b)
    out = cuda.device_array(expected.shape)
    kc.matmul(cuda.to_device(a), cuda.to_device(b), out, trans_a, trans_b)
    np.testing.assert_allclose(out.copy_to_host(), expected, rtol=1e-12, atol=1e-12)


def test_nmf_mu_matches_cpu(kc):
    rng = np.random.default_rng(7)
    X = np.abs(rng.standard_normal((4, 5)))
    W0, H0 = nmf_cpu.nmf_init(X, 2, random_state=0)
    W0_copy = W0.copy()
    gpu = kc.nmf_mu(X, W0, H0, l1_W=0.1, l1_H=0.05, max_iter=6, tol=0)
    cpu = nmf_cpu.nmf_mu(X, W0, H0, l1_W=0.1, l1_H=0.05, max_iter=6, tol=0)
    np.testing.assert_array_equal(W0, W0_copy)
    np.testing.assert_allclose(gpu[0], cpu[0], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(gpu[1], cpu[1], rtol=1e-9, atol=1e-12)
    assert gpu[2] == cpu[2] == 6
    np.testing.assert_allclose(gpu[3], cpu[3], rtol=1e-9)
    assert np.all(np.diff(gpu[3]) <= 1e-12)


def test_nmf_mu_stops_like_cpu(kc):
    rng = np.random.default_rng(8)
    X = np.abs(rng.standard_normal((3, 4)))
    W0, H0 = nmf_cpu.nmf_init(X, 2, random_state=1)
    gpu = kc.nmf_mu(X, W0, H0, max_iter=12, tol=0.995)
    cpu = nmf_cpu.nmf_mu(X, W0, H0, max_iter=12, tol=0.995)
    assert gpu[2] == cpu[2] == 10
    np.testing.assert_allclose(gpu[0], cpu[0], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_reconstruct_matches_cpu(kc, dtype):
    rng = np.random.default_rng(9)
    components = rng.standard_normal((6, 9)).astype(dtype)
    indices = rng.integers(-1, 6, size=(7, 3))
    values = rng.standard_normal((7, 3)).astype(dtype)
    gpu = kc.reconstruct(indices, values, components)
    assert gpu.dtype == dtype
    np.testing.assert_allclose(gpu, reconstruct_cpu.reconstruct(indices, values, components),
                               rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-6)
