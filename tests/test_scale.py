"""Out-of-core block processing: block results equal in-memory results, resume, fingerprints, memory."""

from __future__ import annotations

import tracemalloc

import h5py
import numpy as np
import pytest

from csgene import io, scale
from csgene.datasets import make_expression
from csgene.exceptions import InputError
from csgene.pipeline import CompressedSensing

N_GENES = 60


def write_gen2(path, counts, gene_names, sample_names, chunk_samples=8):
    """ARCHS4 generation-2 layout: genes x samples, chunked, names in meta/genes and meta/samples."""
    strings = h5py.string_dtype("utf-8")
    with h5py.File(path, "w") as h5:
        h5.create_dataset("data/expression", data=counts.T.astype(np.uint32),
                          chunks=(min(16, counts.shape[1]), chunk_samples), compression="gzip")
        h5.create_dataset("meta/genes/gene_symbol", data=np.asarray(gene_names, dtype=object), dtype=strings)
        h5.create_dataset("meta/samples/geo_accession", data=np.asarray(sample_names, dtype=object), dtype=strings)
    return path


def write_gen1(path, counts, gene_names, sample_names):
    """ARCHS4 generation-1 layout: samples x genes, gene list dataset meta/genes."""
    strings = h5py.string_dtype("utf-8")
    with h5py.File(path, "w") as h5:
        h5.create_dataset("data/expression", data=counts.astype(np.uint32), chunks=(8, counts.shape[1]))
        h5.create_dataset("meta/genes", data=np.asarray(gene_names, dtype=object), dtype=strings)
        h5.create_dataset("meta/Sample_geo_accession", data=np.asarray(sample_names, dtype=object), dtype=strings)
    return path


def make_counts(n_samples, seed=0, n_genes=N_GENES):
    data = make_expression(n_samples, n_genes, 8, random_state=seed, library_size=2e3)
    genes = np.array([f"g{j}" for j in range(n_genes)])
    samples = np.array([f"GSM{seed}_{i}" for i in range(n_samples)])
    return data.counts.astype(np.uint32), genes, samples


@pytest.fixture(scope="module")
def model():
    counts, genes, _ = make_counts(80, seed=1)
    return CompressedSensing("svd", n_measurements=12, n_modules=10, preprocess="log1p",
                             random_state=0).fit(counts, gene_names=genes)


@pytest.fixture(params=["gen2", "gen1"])
def archs4_file(request, tmp_path):
    counts, genes, samples = make_counts(53, seed=2)
    writer = write_gen2 if request.param == "gen2" else write_gen1
    path = writer(tmp_path / f"{request.param}.h5", counts, genes, samples)
    return path, counts.astype(np.float32), genes, samples


def reference_measure(model, X, snr, seed, noise_block):
    """In-memory model.measure on each noise group with the spawned seeds (the documented definition)."""
    parts = []
    for group, start in enumerate(range(0, len(X), noise_block)):
        rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(group + 1)[group])
        parts.append(model.measure(X[start:start + noise_block], snr=snr, random_state=rng))
    return np.vstack(parts)


def read_all(path):
    """Every dataset and attribute of an HDF5 file (to compare files)."""
    found = {}
    with h5py.File(path, "r") as h5:
        found["attrs"] = {k: h5.attrs[k] for k in h5.attrs}
        h5.visititems(lambda name, obj: found.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
    return found


def assert_same_files(a, b, ignore=()):
    first, second = read_all(a), read_all(b)
    for name in ignore:
        first["attrs"].pop(name), second["attrs"].pop(name)
    assert first.keys() == second.keys()
    for key in first:
        if key == "attrs":
            assert {k: str(v) for k, v in first[key].items()} == {k: str(v) for k, v in second[key].items()}
        else:
            np.testing.assert_array_equal(first[key], second[key])


# --------------------------------------------------------------------------- results


@pytest.mark.parametrize("snr", [np.inf, 3.0])
def test_block_simulate_equals_in_memory(model, archs4_file, tmp_path, snr):
    path, X, _, samples = archs4_file
    out = scale.simulate_file(model, path, tmp_path / "Y.h5", snr=snr, random_state=7, block_size=10,
                              noise_block=5)
    Y = io.read(out, allow_negative=True, dtype=np.float64)
    np.testing.assert_allclose(Y.X, reference_measure(model, X, snr, 7, 5), rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(Y.sample_names, samples)
    if np.isinf(snr):
        np.testing.assert_allclose(Y.X, model.measure(X, snr=np.inf), rtol=1e-12)


def test_simulation_does_not_depend_on_block_size(model, archs4_file, tmp_path):
    path = archs4_file[0]
    small = scale.simulate_file(model, path, tmp_path / "a.h5", snr=2.0, random_state=3, block_size=4,
                                noise_block=4)
    large = scale.simulate_file(model, path, tmp_path / "b.h5", snr=2.0, random_state=3, block_size=20,
                                noise_block=4)
    other_seed = scale.simulate_file(model, path, tmp_path / "c.h5", snr=2.0, random_state=4, block_size=20,
                                     noise_block=4)
    np.testing.assert_array_equal(read_all(small)["data/expression"], read_all(large)["data/expression"])
    assert not np.allclose(read_all(small)["data/expression"], read_all(other_seed)["data/expression"])


def test_block_recover_equals_in_memory(model, archs4_file, tmp_path):
    path, X, genes, samples = archs4_file
    measurements = scale.simulate_file(model, path, tmp_path / "Y.h5", snr=5.0, random_state=1, block_size=8,
                                       noise_block=8)
    out = scale.recover_file(model, measurements, tmp_path / "X.h5", block_size=7)
    recovered = io.read(out, allow_negative=True, dtype=np.float64)
    Y = io.read(measurements, allow_negative=True, dtype=np.float64).X
    assert recovered.X.shape == (len(samples), len(genes))  # (n_samples, n_genes)
    np.testing.assert_allclose(recovered.X, model.recover(Y).astype(np.float32), rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(recovered.sample_names, samples)
    np.testing.assert_array_equal(recovered.gene_names, model.gene_names_)
    with h5py.File(out) as h5:
        ds = h5["data/expression"]
        assert ds.dtype == np.float32 and ds.chunks is not None


def test_simulate_and_recover_equals_the_two_steps(model, archs4_file, tmp_path):
    path = archs4_file[0]
    Y = scale.simulate_file(model, path, tmp_path / "Y.h5", snr=2.0, random_state=5, block_size=10, noise_block=5)
    two_steps = scale.recover_file(model, Y, tmp_path / "two.h5", block_size=10, space="preprocessed")
    one_pass = scale.simulate_and_recover(model, path, tmp_path / "one.h5", snr=2.0, random_state=5, block_size=15,
                                          noise_block=5, space="preprocessed", compression="gzip")
    np.testing.assert_allclose(read_all(one_pass)["data/expression"], read_all(two_steps)["data/expression"],
                               rtol=1e-6, atol=1e-6)


def test_genes_are_matched_by_name(model, tmp_path):
    counts, genes, samples = make_counts(20, seed=3)
    order = np.random.default_rng(0).permutation(N_GENES)
    extra = np.zeros((20, 1), dtype=np.uint32)
    path = write_gen2(tmp_path / "shuffled.h5", np.hstack([counts[:, order], extra]),
                      np.append(genes[order], "extra"), samples)
    Y = scale.simulate_file(model, path, tmp_path / "Y.h5", block_size=10, noise_block=10)
    np.testing.assert_allclose(io.read(Y, allow_negative=True, dtype=np.float64).X, model.measure(counts.astype(np.float32)),
                               rtol=1e-12)


# --------------------------------------------------------------------------- resume and fingerprints


class Crash(Exception):
    pass


def crash_after(n_blocks):
    def on_block(index):
        if index + 1 >= n_blocks:
            raise Crash(f"simulated crash after block {index}")

    return on_block


def test_resume_after_crash_gives_identical_file(model, archs4_file, tmp_path):
    path = archs4_file[0]
    clean = scale.simulate_and_recover(model, path, tmp_path / "clean.h5", snr=2.0, random_state=1, block_size=10,
                                       noise_block=5)
    out = tmp_path / "resumed.h5"
    with pytest.raises(Crash):
        scale.simulate_and_recover(model, path, out, snr=2.0, random_state=1, block_size=10, noise_block=5,
                                   on_block=crash_after(2))
    partial = out.with_name(out.name + ".partial")
    assert partial.exists() and not out.exists()  # the half-written file is not mistaken for complete
    with h5py.File(partial) as h5:
        np.testing.assert_array_equal(h5["csgene/done"][()], [True, True, False, False, False, False])
    ran = []
    scale.simulate_and_recover(model, path, out, snr=2.0, random_state=1, block_size=10, noise_block=5,
                               on_block=ran.append)
    assert ran == [2, 3, 4, 5] and not partial.exists()
    assert_same_files(clean, out)


def test_partial_of_another_model_or_setting_is_refused(model, archs4_file, tmp_path):
    path = archs4_file[0]
    out = tmp_path / "X.h5"
    with pytest.raises(Crash):
        scale.simulate_and_recover(model, path, out, snr=2.0, random_state=1, block_size=10, noise_block=5,
                                   on_block=crash_after(1))
    counts, genes, _ = make_counts(80, seed=1)
    other = CompressedSensing("svd", n_measurements=12, n_modules=10, random_state=1).fit(counts, gene_names=genes)
    with pytest.raises(InputError, match="different model"):
        scale.simulate_and_recover(other, path, out, snr=2.0, random_state=1, block_size=10, noise_block=5)
    with pytest.raises(InputError, match="different model"):
        scale.simulate_and_recover(model, path, out, snr=3.0, random_state=1, block_size=10, noise_block=5)
    # resume=False starts over and completes
    scale.simulate_and_recover(other, path, out, snr=2.0, random_state=1, block_size=10, noise_block=5,
                               resume=False)
    assert out.exists()


def test_corrupt_partial_is_refused(model, archs4_file, tmp_path):
    out = tmp_path / "X.h5"
    out.with_name("X.h5.partial").write_bytes(b"not hdf5")
    with pytest.raises(InputError, match="Delete it"):
        scale.recover_file(model, scale.simulate_file(model, archs4_file[0], tmp_path / "Y.h5", block_size=10,
                                                      noise_block=5), out)


# --------------------------------------------------------------------------- memory


def peak_bytes(run):
    tracemalloc.start()
    try:
        run()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_peak_memory_bounded_by_block_not_samples(tmp_path):
    n_genes = 1500
    genes = np.array([f"g{j}" for j in range(n_genes)])
    rng = np.random.default_rng(0)
    fitted = CompressedSensing("svd", n_measurements=20, n_modules=10, random_state=0).fit(
        rng.poisson(3.0, size=(40, n_genes)).astype(float), gene_names=genes)
    peaks = {}
    for n in (100, 800):
        counts = rng.poisson(3.0, size=(n, n_genes)).astype(np.uint32)
        path = write_gen2(tmp_path / f"{n}.h5", counts, genes, np.array([f"s{i}" for i in range(n)]), 20)
        peaks[n] = peak_bytes(lambda: scale.simulate_and_recover(
            fitted, path, tmp_path / f"out{n}.h5", snr=2.0, block_size=20, noise_block=20))
    block_bytes = 20 * n_genes * 8
    assert peaks[800] < 1.25 * peaks[100] + 100_000, peaks  # 8x the samples, about the same peak
    assert peaks[800] < 40 * block_bytes, (peaks, block_bytes)  # a few blocks, not the 800-sample matrix
    assert peaks[800] < 800 * n_genes * 8


# --------------------------------------------------------------------------- errors and defaults


def test_default_block_size_aims_at_256mb_and_chunk_multiples():
    n = scale.default_block_size(35_238, 256)
    assert n % 256 == 0 and n * 35_238 * 4 <= scale.DEFAULT_BLOCK_BYTES < (n + 256) * 35_238 * 4
    assert scale.default_block_size(10, 1) == scale.DEFAULT_BLOCK_BYTES // 40
    assert scale.default_block_size(10**9, 256) == 1


def test_bad_inputs_are_clear(model, archs4_file, tmp_path):
    path = archs4_file[0]
    with pytest.raises(InputError, match="multiple of noise_block"):
        scale.simulate_file(model, path, tmp_path / "Y.h5", block_size=7, noise_block=5)
    Y = scale.simulate_file(model, path, tmp_path / "Y.h5", block_size=10, noise_block=5)
    with pytest.raises(InputError, match="already exists"):
        scale.simulate_file(model, path, Y, block_size=10, noise_block=5)
    with pytest.raises(InputError, match="measurements"):
        scale.recover_file(model, path, tmp_path / "X.h5")  # a counts file is not a measurements file
    counts, genes, _ = make_counts(80, seed=1)
    other = CompressedSensing("svd", n_measurements=12, n_modules=10, random_state=5).fit(counts, gene_names=genes)
    with pytest.raises(InputError, match="another design"):
        scale.recover_file(other, Y, tmp_path / "X.h5")
    missing = write_gen1(tmp_path / "few.h5", make_counts(10, n_genes=N_GENES)[0][:, :30],
                         [f"g{j}" for j in range(30)], [f"s{i}" for i in range(10)])
    with pytest.raises(InputError, match="not in"):
        scale.simulate_file(model, missing, tmp_path / "Z.h5")
    with pytest.raises(InputError, match="space"):
        scale.recover_file(model, Y, tmp_path / "X.h5", space="log")


def test_fit_on_subset_draws_a_seeded_subset(archs4_file):
    path, X, genes, _ = archs4_file
    a = scale.fit_on_subset(path, 30, method="svd", n_measurements=10, n_modules=5, random_state=0)
    b = scale.fit_on_subset(path, 30, method="svd", n_measurements=10, n_modules=5, random_state=0)
    np.testing.assert_array_equal(a.design_, b.design_)
    np.testing.assert_array_equal(a.gene_names_, genes)
    subset = io.read(path, n_samples=30, random_state=0).X
    reference = CompressedSensing("svd", n_measurements=10, n_modules=5, random_state=0).fit(subset, gene_names=genes)
    np.testing.assert_allclose(a.method_.components_, reference.method_.components_)
