"""Dask block processing gives the same files as the single-process path (LocalCluster, 2 processes)."""

from __future__ import annotations

import pytest

from csgene import scale
from csgene.exceptions import MissingDependencyError
from csgene.pipeline import CompressedSensing

from test_scale import assert_same_files, crash_after, Crash, make_counts, write_gen2

distributed = pytest.importorskip("distributed", reason="needs the dask extra: pip install 'csgene[dask]'")
from csgene import distributed as csdist  # noqa: E402


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None, silence_logs=50)
    with distributed.Client(cluster) as c:
        yield c
    cluster.close()


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dist")
    counts, genes, samples = make_counts(47, seed=4)
    path = write_gen2(folder / "in.h5", counts, genes, samples)
    train, train_genes, _ = make_counts(80, seed=1)
    model = CompressedSensing("svd", n_measurements=12, n_modules=10, random_state=0).fit(
        train, gene_names=train_genes)
    return folder, path, model


def test_distributed_equals_single_process(client, setup):
    folder, path, model = setup
    kwargs = dict(snr=2.0, random_state=3, block_size=10, noise_block=5)
    y_local = scale.simulate_file(model, path, folder / "y_local.h5", **kwargs)
    y_dask = csdist.simulate_file(client, model, path, folder / "y_dask.h5", max_in_flight=3, **kwargs)
    assert_same_files(y_local, y_dask)
    x_local = scale.recover_file(model, y_local, folder / "x_local.h5", block_size=9)
    x_dask = csdist.recover_file(client, model, y_dask, folder / "x_dask.h5", block_size=9)
    assert_same_files(x_local, x_dask, ignore=["csgene_fingerprint"])  # inputs differ by file name only
    both_local = scale.simulate_and_recover(model, path, folder / "b_local.h5", **kwargs)
    both_dask = csdist.simulate_and_recover(client, model, path, folder / "b_dask.h5", **kwargs)
    assert_same_files(both_local, both_dask)


def test_distributed_resumes_a_partial_file(client, setup):
    folder, path, model = setup
    kwargs = dict(snr=2.0, random_state=3, block_size=10, noise_block=5)
    out = folder / "resumed.h5"
    with pytest.raises(Crash):
        scale.simulate_and_recover(model, path, out, on_block=crash_after(2), **kwargs)
    ran = []
    csdist.simulate_and_recover(client, model, path, out, on_block=ran.append, **kwargs)
    assert sorted(ran) == [2, 3, 4]
    assert_same_files(scale.simulate_and_recover(model, path, folder / "clean.h5", **kwargs), out)


def test_host_slots_count_worker_threads(client):
    assert sum(csdist.host_slots(client).values()) == 2


def test_missing_dask_names_the_extra(monkeypatch, setup):
    import csgene._optional as optional

    def fail(module, feature):
        raise MissingDependencyError(f"{feature} needs {module}; pip install 'csgene[dask]'")

    monkeypatch.setattr(csdist, "require", fail)
    folder, path, model = setup
    with pytest.raises(MissingDependencyError, match=r"csgene\[dask\]"):
        csdist.simulate_file(None, model, path, folder / "never.h5")
    assert optional.EXTRAS["distributed"] == "dask"


@pytest.mark.parametrize("method", ["smaf", "snmf"])
def test_out_of_core_fit_on_dask_equals_one_process(client, tmp_path, method):
    import numpy as np

    from csgene.datasets import make_expression
    from csgene.outofcore import fit_file

    d = make_expression(n_samples=60, n_genes=30, n_modules=5, random_state=2)
    path = write_gen2(tmp_path / "train.h5", d.counts, d.gene_names, [f"s{i}" for i in range(60)])
    kwargs = dict(method=method, n_measurements=10, n_modules=20, sparsity=4, random_state=1, block_size=9,
                  progress=False)
    local = fit_file(path, **kwargs)
    remote = csdist.fit_file(client, path, max_in_flight=3, **kwargs)  # few in flight: results arrive out of order
    a, b = local.method_.get_state(), remote.method_.get_state()
    assert sorted(a) == sorted(b)
    for key in a:
        assert np.array_equal(np.asarray(a[key]), np.asarray(b[key])), key
