"""Parallel chunk reads (csgene.io._chunks) equal h5py's own reads, on every layout they accept."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from csgene.io import BlockReader
from csgene.io._chunks import direct_chunk_filter, read_samples


def dataset(tmp_path, shape, chunks, **options):
    rng = np.random.default_rng(0)
    values = rng.integers(0, 5000, size=shape).astype(options.pop("dtype", np.uint32))
    path = tmp_path / "x.h5"
    with h5py.File(path, "w") as h5:
        h5.create_dataset("x", data=values, chunks=chunks, **options)
    return path, values


@pytest.mark.parametrize("sample_axis", [0, 1])
@pytest.mark.parametrize("compression", [None, "gzip"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_read_samples_equals_h5py_on_unaligned_ranges_and_edge_chunks(tmp_path, sample_axis, compression, dtype):
    shape = (53, 37) if sample_axis == 0 else (37, 53)  # 53 samples, 37 genes: partial edge chunks
    chunks = (8, 5) if sample_axis == 0 else (5, 8)
    path, values = dataset(tmp_path, shape, chunks, compression=compression)
    oriented = values if sample_axis == 0 else values.T
    with h5py.File(path, "r") as h5:
        ds = h5["x"]
        kind = direct_chunk_filter(ds)
        assert kind == ("deflate" if compression else "none")
        for start, stop in [(0, 53), (3, 4), (7, 9), (8, 16), (13, 50), (48, 53), (5, 5)]:
            got = read_samples(ds, sample_axis, start, stop, dtype, threads=3, kind=kind)
            assert got.dtype == dtype and got.flags.c_contiguous
            np.testing.assert_array_equal(got, oriented[start:stop].astype(dtype))


def test_unwritten_chunks_read_as_the_fill_value(tmp_path):
    path = tmp_path / "sparse.h5"
    with h5py.File(path, "w") as h5:
        ds = h5.create_dataset("x", shape=(20, 30), dtype=np.uint32, chunks=(4, 10), compression="gzip",
                               fillvalue=7)
        ds[:, 10:20] = np.arange(200, dtype=np.uint32).reshape(20, 10)
        expected = ds[...].T
    with h5py.File(path, "r") as h5:
        got = read_samples(h5["x"], 1, 2, 25, np.float64, threads=2, kind="deflate")
    np.testing.assert_array_equal(got, expected[2:25])
    assert (got[:8] == 7).all() and (got[8:18] != 7).any()  # samples 2-9 were never written


@pytest.mark.parametrize("options", [dict(compression="gzip", shuffle=True), dict(compression="lzf"),
                                     dict(compression="gzip", fletcher32=True), dict(chunks=None)])
def test_other_filters_and_contiguous_data_are_left_to_hdf5(tmp_path, options):
    options = dict({"chunks": (4, 4)}, **options)
    path, _ = dataset(tmp_path, (12, 10), **options)
    with h5py.File(path, "r") as h5:
        assert direct_chunk_filter(h5["x"]) is None


def test_block_reader_reads_the_same_with_one_thread_or_many(tmp_path):
    from test_scale import write_gen2

    rng = np.random.default_rng(1)
    counts = rng.integers(0, 100, size=(70, 45))
    genes = np.array([f"g{j}" for j in range(45)])
    names = np.array([f"s{i}" for i in range(70)])
    path = write_gen2(tmp_path / "gen2.h5", counts, genes, names, chunk_samples=8)
    with BlockReader(path) as reader:
        assert reader.direct_filter == "deflate"
        reader.threads = 4
        fast = reader.read(5, 61, np.float32)
        reader.threads = 1  # HDF5's own path
        slow = reader.read(5, 61, np.float32)
    np.testing.assert_array_equal(fast, slow)
    np.testing.assert_array_equal(fast, counts[5:61].astype(np.float32))
