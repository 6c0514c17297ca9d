"""csgene_kernels.device: resolve_device and kernels (CPU here; CUDA only with a real GPU), and
csgene._device, which turns the kernels' errors into csgene's with the same messages."""

from __future__ import annotations

import subprocess
import sys

import pytest

from csgene import _device
from csgene.exceptions import CsgeneError, DeviceUnavailableError, InputError, MissingDependencyError
from csgene_kernels import device as dev
from csgene_kernels import nmf, nnlasso, omp, reconstruct


def _gpu_usable() -> bool:
    return dev._cuda_problem() is None and not dev._simulator_requested()


def test_cpu_is_cpu():
    assert dev.resolve_device("cpu") == "cpu"
    assert dev.resolve_device("CPU") == "cpu"


@pytest.mark.parametrize("bad", ["gpu", "", "cuda:0", None, 0])
def test_bad_device_is_input_error(bad):
    with pytest.raises(dev.UnknownDeviceError, match="device must be one of") as kernel_error:
        dev.resolve_device(bad)
    assert isinstance(kernel_error.value, ValueError) and not isinstance(kernel_error.value, CsgeneError)
    for resolve in (_device.resolve_device, _device.kernels, _device.check_device):
        with pytest.raises(InputError) as info:
            resolve(bad)
        assert str(info.value) == str(kernel_error.value)


def test_auto_matches_what_is_there():
    expected = "cuda" if _gpu_usable() else "cpu"
    assert dev.resolve_device("auto") == expected


def test_cuda_without_gpu_is_a_clear_error():
    if _gpu_usable():
        assert dev.resolve_device("cuda") == "cuda"
        return
    with pytest.raises(dev.DeviceError) as kernel_error:
        dev.resolve_device("cuda")
    with pytest.raises(CsgeneError) as info:
        _device.resolve_device("cuda")
    message = str(info.value)
    assert message == str(kernel_error.value)
    assert "device='cuda'" in message
    assert ("pip install 'csgene[cuda]'" in message) or ("device='cpu'" in message)


def test_missing_numba_cuda_names_the_extra(monkeypatch):
    monkeypatch.setattr(dev, "_numba_cuda_installed", lambda: False)
    with pytest.raises(dev.CudaMissingError, match=r"pip install 'csgene\[cuda\]'"):
        dev.resolve_device("cuda")
    with pytest.raises(MissingDependencyError, match=r"pip install 'csgene\[cuda\]'"):
        _device.kernels("cuda")
    assert dev.resolve_device("auto") == "cpu"


def test_simulator_needs_opt_in(monkeypatch):
    monkeypatch.setattr(dev, "_numba_cuda_installed", lambda: True)
    monkeypatch.setattr(dev, "_simulator_requested", lambda: True)
    monkeypatch.delenv(dev.ALLOW_SIMULATOR_ENV, raising=False)
    assert dev.resolve_device("auto") == "cpu"
    with pytest.raises(dev.DeviceUnavailableError, match="CSGENE_ALLOW_CUDASIM"):
        dev.resolve_device("cuda")
    with pytest.raises(DeviceUnavailableError, match="CSGENE_ALLOW_CUDASIM"):
        _device.resolve_device("cuda")
    monkeypatch.setenv(dev.ALLOW_SIMULATOR_ENV, "1")
    assert dev.resolve_device("auto") == "cuda"


def test_kernels_cpu_returns_the_cpu_functions():
    k = dev.kernels("cpu")
    assert k.device == "cpu"
    assert k.omp_gram is omp.omp_gram
    assert k.omp is omp.omp
    assert k.omp_direct is omp.omp_direct
    assert k.nnlasso_gram is nnlasso.nnlasso_gram
    assert k.nnlasso_constrained_gram is nnlasso.nnlasso_constrained_gram
    assert k.nmf_mu is nmf.nmf_mu
    assert k.reconstruct is reconstruct.reconstruct
    assert set(dev.KERNEL_NAMES) <= set(vars(k))


def test_kernels_auto_without_gpu_is_cpu():
    if _gpu_usable():
        pytest.skip("a GPU is usable here: 'auto' is CUDA (covered by test_cuda_kernels)")
    assert dev.kernels("auto").omp_gram is omp.omp_gram


def test_kernels_import_nothing_from_csgene():
    code = ("import sys, csgene_kernels, csgene_kernels.device, csgene_kernels.omp, csgene_kernels.nnlasso, "
            "csgene_kernels.nmf, csgene_kernels.reconstruct, csgene_kernels.testing; "
            "sys.exit(any(m == 'csgene' or m.startswith('csgene.') for m in sys.modules))")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_device_names_import_without_numba():
    code = "import sys, csgene._device; sys.exit('numba' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_importing_kernels_does_not_import_numba_cuda():
    code = ("import sys, csgene_kernels, csgene_kernels.device, csgene_kernels.omp; "
            "sys.exit('numba.cuda' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
