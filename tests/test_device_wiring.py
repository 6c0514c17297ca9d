"""The device switch reaches the decoders, SMAF and the pipeline."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from csgene import CompressedSensing
from csgene.exceptions import CsgeneError, InputError
from csgene.recovery import SparseDecoder
from csgene_kernels.testing import make_sparse_problem


def test_auto_runs_on_cpu_here_and_cuda_fails_clearly():
    p = make_sparse_problem(10, 40, 8, 2, seed=0)
    A = np.random.default_rng(0).standard_normal((20, 40))
    auto = SparseDecoder("omp", sparsity=2, device="auto").fit(A, p.U)
    cpu = SparseDecoder("omp", sparsity=2, device="cpu").fit(A, p.U)
    np.testing.assert_array_equal(auto.recover(p.X @ A.T), cpu.recover(p.X @ A.T))
    with pytest.raises(InputError, match="device"):
        SparseDecoder(sparsity=2, device="tpu").fit(A, p.U)
    if os.environ.get("NUMBA_ENABLE_CUDASIM") != "1":
        with pytest.raises(CsgeneError, match="(?i)cuda|gpu"):
            CompressedSensing("smaf", n_measurements=10, device="cuda").fit(np.abs(p.X) + 1)


def test_stack_runs_its_smaf_on_the_stack_device():
    pytest.importorskip("torch", reason="needs the nn extra: pip install 'csgene[nn]'")
    from csgene.neural import SMAFStack
    from csgene_kernels.device import resolve_device

    X = np.abs(make_sparse_problem(30, 40, 8, 2, seed=0).X) + 1
    stack = SMAFStack(8, sparsity=2, device="cpu", random_state=0).fit(X)
    assert all(m.learner.device == "cpu" for m in [stack.smaf_, *stack.fold_methods_])
    if os.environ.get("NUMBA_ENABLE_CUDASIM") != "1" and resolve_device("auto") == "cpu":
        with pytest.raises(CsgeneError, match="(?i)cuda|gpu"):  # no GPU: asking for one must fail
            SMAFStack(8, sparsity=2, device="cuda", random_state=0).fit(X)


SIMULATED = textwrap.dedent("""
    import json, numpy as np
    from csgene.recovery import SparseDecoder
    from csgene_kernels.testing import make_sparse_problem
    p = make_sparse_problem(12, 24, 6, 2, seed=0)
    A = np.random.default_rng(1).standard_normal((10, 24))
    out = {}
    for device in ("cpu", "cuda"):
        decoder = SparseDecoder("omp", sparsity=2, noise_variance=0.01, activity_variance=np.ones(6),
                                device=device).fit(A, p.U)
        out[device] = decoder.recover(p.X @ A.T).tolist()
    from csgene.dictionary import KSVD, SparseNMF
    X = np.abs(p.X) + 0.1
    for device in ("cpu", "cuda"):  # the learners reach their kernels through kernels(device) too
        ksvd = KSVD(4, sparsity=2, max_iter=2, random_state=0, device=device).fit(X)
        snmf = SparseNMF(4, max_iter=20, random_state=0, device=device).fit(X)
        out["ksvd_" + device], out["snmf_" + device] = ksvd.components_.tolist(), snmf.components_.tolist()
    print(json.dumps(out))
""")


def test_decoder_on_the_cuda_simulator_matches_cpu():
    pytest.importorskip("numba_cuda", reason="needs the cuda extra: pip install 'csgene[cuda]'")
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1", CSGENE_ALLOW_CUDASIM="1")
    proc = subprocess.run([sys.executable, "-c", SIMULATED], capture_output=True, text=True,
                          env=env, timeout=180)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    np.testing.assert_allclose(np.array(result["cuda"]), np.array(result["cpu"]), rtol=1e-6, atol=1e-8)
    for learner in ("ksvd", "snmf"):
        np.testing.assert_allclose(np.array(result[learner + "_cuda"]), np.array(result[learner + "_cpu"]),
                                   rtol=1e-5, atol=1e-7)
