"""Tests of csgene.io: real ARCHS4/CSV files against h5py/pandas, fake layouts, selections, errors."""

from __future__ import annotations

import gzip
import os

import h5py
import numpy as np
import pytest

from csgene import io
from csgene.exceptions import DataFormatError, InputError

# ----------------------------------------------------------------------------- helpers


def coded_matrix(n_samples, n_genes):
    """Values that say where they belong: sample i, gene j holds 1000 * i + j."""
    return (1000 * np.arange(n_samples)[:, None] + np.arange(n_genes)[None, :]).astype(np.float64)


def gene_names(n, prefix="G"):
    return np.array([f"{prefix}{j}" for j in range(n)])


def sample_names(n):
    return np.array([f"GSM{i}" for i in range(n)])


def write_archs4(path, X, generation, *, genes=None, samples=None, singlecell=None, str_names=False,
                 dtype=np.uint32, chunks=True):
    """A fake ARCHS4 file. ``X`` is (samples, genes); gen 2 stores its transpose."""
    n_samples, n_genes = X.shape
    genes = gene_names(n_genes) if genes is None else np.asarray(genes)
    samples = sample_names(n_samples) if samples is None else samples

    def names(values):
        if str_names:
            return np.asarray(values, dtype=object), h5py.string_dtype("utf-8")
        return np.char.encode(np.asarray(values, dtype=str), "utf-8"), None

    with h5py.File(path, "w") as h5:
        on_disk = X.T if generation == 2 else X
        h5.create_dataset("data/expression", data=on_disk.astype(dtype), chunks=chunks or None)
        gene_data, gene_dtype = names(genes)
        if generation == 2:
            h5.create_dataset("meta/genes/symbol", data=gene_data, dtype=gene_dtype)
            if samples is not False:
                data, kind = names(samples)
                h5.create_dataset("meta/samples/geo_accession", data=data, dtype=kind)
            if singlecell is not None:
                h5.create_dataset("meta/samples/singlecellprobability", data=singlecell)
        else:
            h5.create_dataset("meta/genes", data=gene_data, dtype=gene_dtype)
            if samples is not False:
                data, kind = names(samples)
                h5.create_dataset("meta/Sample_geo_accession", data=data, dtype=kind)
    return path


def h5_names(dataset):
    return np.char.decode(dataset[()], "utf-8")


def write_csv(path, X, genes, samples, *, delimiter=",", compress=False, header_id="sample"):
    lines = [delimiter.join(([header_id] if header_id is not None else []) + list(genes))]
    lines += [delimiter.join([s] + [repr(float(v)) for v in row]) for s, row in zip(samples, X)]
    text = "\n".join(lines) + "\n"
    if compress:
        with gzip.open(path, "wt") as fh:
            fh.write(text)
    else:
        path.write_text(text)
    return path


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture
def counts(rng):
    return rng.poisson(3.0, size=(13, 7)).astype(np.float64)


# ----------------------------------------------------------------------------- real ARCHS4 files


@pytest.mark.realdata
def test_gen2_real_file_is_the_transposed_matrix(archs4_gen2):
    data = io.read(archs4_gen2)
    with h5py.File(archs4_gen2) as h5:
        expected = h5["data/expression"][()].T
        genes = h5_names(h5["meta/genes/symbol"])
        samples = h5_names(h5["meta/samples/geo_accession"])
    assert data.X.shape == (500, 1000) == expected.shape
    assert data.X.dtype == np.float32
    np.testing.assert_array_equal(data.X, expected.astype(np.float32))
    np.testing.assert_array_equal(data.gene_names, genes)
    np.testing.assert_array_equal(data.sample_names, samples)
    assert data.layout == "archs4-gen2"
    assert data.source == str(archs4_gen2)


@pytest.mark.realdata
def test_gen1_real_file_is_the_matrix_as_stored(archs4_gen1):
    data = io.read(archs4_gen1, dtype=np.float64)
    with h5py.File(archs4_gen1) as h5:
        expected = h5["data/expression"][()]
        genes = h5_names(h5["meta/genes"])
        samples = h5_names(h5["meta/Sample_geo_accession"])
    assert data.X.shape == (500, 1000)
    assert data.X.dtype == np.float64
    np.testing.assert_array_equal(data.X, expected)
    np.testing.assert_array_equal(data.gene_names, genes)
    np.testing.assert_array_equal(data.sample_names, samples)
    assert data.layout == "archs4-gen1"


@pytest.mark.realdata
@pytest.mark.parametrize("fixture", ["archs4_gen2", "archs4_gen1"])
def test_real_files_put_genes_in_columns(fixture, request):
    """The classic bug is reading samples as genes: gene ids must label the columns."""
    data = io.read(request.getfixturevalue(fixture))
    assert data.X.shape[1] == len(data.gene_names)
    assert all("_G" in name for name in data.gene_names)
    assert all("_S" in name for name in data.sample_names)


@pytest.mark.realdata
def test_real_subsets_by_index_and_name_keep_the_order_asked(archs4_gen2, rng):
    full = io.read(archs4_gen2)
    sample_idx = rng.choice(500, size=37, replace=False)
    gene_idx = rng.choice(1000, size=11, replace=False)
    by_index = io.read(archs4_gen2, samples=sample_idx, genes=gene_idx)
    np.testing.assert_array_equal(by_index.X, full.X[np.ix_(sample_idx, gene_idx)])
    np.testing.assert_array_equal(by_index.gene_names, full.gene_names[gene_idx])
    by_name = io.read(archs4_gen2, samples=full.sample_names[sample_idx], genes=full.gene_names[gene_idx])
    np.testing.assert_array_equal(by_name.X, by_index.X)
    np.testing.assert_array_equal(by_name.sample_names, full.sample_names[sample_idx])


@pytest.mark.realdata
def test_real_random_subset_is_seeded(archs4_gen1):
    full = io.read(archs4_gen1)
    first = io.read(archs4_gen1, n_samples=50, n_genes=20, random_state=0)
    again = io.read(archs4_gen1, n_samples=50, n_genes=20, random_state=0)
    other = io.read(archs4_gen1, n_samples=50, n_genes=20, random_state=1)
    assert first.X.shape == (50, 20)
    np.testing.assert_array_equal(first.X, again.X)
    np.testing.assert_array_equal(first.sample_names, again.sample_names)
    assert not np.array_equal(first.sample_names, other.sample_names)
    assert not np.array_equal(first.gene_names, other.gene_names)
    rows = np.searchsorted(full.sample_names, first.sample_names)
    cols = np.searchsorted(full.gene_names, first.gene_names)
    np.testing.assert_array_equal(first.X, full.X[np.ix_(rows, cols)])
    assert np.all(np.diff(rows) > 0), "random subsets are returned in file order"


@pytest.mark.realdata
def test_real_singlecell_threshold_keeps_samples_below_it(archs4_gen2):
    with h5py.File(archs4_gen2) as h5:
        probability = h5["meta/samples/singlecellprobability"][()]
    data = io.read(archs4_gen2, singlecell_threshold=0.5)
    assert len(data.sample_names) == int(np.sum(probability < 0.5))


@pytest.mark.realdata
def test_describe_real_archs4_files(archs4_gen2, archs4_gen1):
    gen2, gen1 = io.describe(archs4_gen2), io.describe(archs4_gen1)
    assert gen2["shape"] == gen1["shape"] == (500, 1000)
    assert (gen2["layout"], gen2["orientation"], gen2["generation"]) == ("archs4-gen2", "genes x samples", 2)
    assert (gen1["layout"], gen1["orientation"], gen1["generation"]) == ("archs4-gen1", "samples x genes", 1)
    assert gen2["compression"].startswith("gzip")
    assert gen2["single-cell"] == "meta/samples/singlecellprobability"
    assert gen1["single-cell"] == "none"
    full = io.read(archs4_gen2)
    assert f"max {full.X.max():g}" in gen2["value range"]
    text = str(gen2)
    assert "500 samples x 1000 genes" in text and "genes x samples" in text


# ----------------------------------------------------------------------------- real CSV files


@pytest.mark.realdata
def test_tcga_csv_matches_pandas(tcga_csv):
    pandas = pytest.importorskip("pandas")
    data = io.read(tcga_csv, dtype=np.float64)
    frame = pandas.read_csv(tcga_csv, index_col=0)
    assert data.X.shape == (172, 20531) == frame.shape
    np.testing.assert_array_equal(data.X, frame.to_numpy(dtype=np.float64))
    np.testing.assert_array_equal(data.gene_names, frame.columns.to_numpy(dtype=str))
    np.testing.assert_array_equal(data.sample_names, frame.index.to_numpy(dtype=str))


@pytest.mark.realdata
def test_lcl_csv_matches_pandas(lcl_csv):
    pandas = pytest.importorskip("pandas")
    data = io.read(lcl_csv, n_genes=300, random_state=3)
    frame = pandas.read_csv(lcl_csv, index_col=0, usecols=["sample", *data.gene_names])
    assert data.X.shape == (170, 300)
    np.testing.assert_array_equal(data.X, frame[data.gene_names].to_numpy(np.float32))
    np.testing.assert_array_equal(data.sample_names, frame.index.to_numpy(dtype=str))


# ----------------------------------------------------------------------------- fake ARCHS4 layouts


@pytest.mark.parametrize("generation", [1, 2])
@pytest.mark.parametrize("str_names", [False, True])
def test_fake_archs4_orientation_and_names(tmp_path, generation, str_names):
    X = coded_matrix(9, 5)
    path = write_archs4(tmp_path / "x.h5", X, generation, str_names=str_names)
    data = io.read(path)
    np.testing.assert_array_equal(data.X, X)  # sample i, gene j holds 1000 i + j
    np.testing.assert_array_equal(data.gene_names, gene_names(5))
    np.testing.assert_array_equal(data.sample_names, sample_names(9))
    assert data.layout == f"archs4-gen{generation}"


@pytest.mark.parametrize("generation, expected_transposed", [(2, True), (1, False)])
def test_square_matrix_uses_the_layout_convention(tmp_path, generation, expected_transposed):
    X = coded_matrix(6, 6)
    path = write_archs4(tmp_path / "sq.h5", X, generation)
    data = io.read(path)
    np.testing.assert_array_equal(data.X, X)
    with h5py.File(path) as h5:
        on_disk = h5["data/expression"][()]
    np.testing.assert_array_equal(data.X, on_disk.T if expected_transposed else on_disk)
    assert io.describe(path)["orientation"] == ("genes x samples" if expected_transposed else "samples x genes")


def test_orientation_comes_from_gene_list_not_layout(tmp_path):
    """A gen-2 style file stored samples x genes is still read right: the gene list decides."""
    X = coded_matrix(8, 3)
    path = tmp_path / "odd.h5"
    with h5py.File(path, "w") as h5:
        h5["data/expression"] = X
        h5["meta/genes/symbol"] = np.char.encode(gene_names(3))
        h5["meta/samples/geo_accession"] = np.char.encode(sample_names(8))
    np.testing.assert_array_equal(io.read(path).X, X)


def test_missing_sample_names_get_placeholders(tmp_path):
    path = write_archs4(tmp_path / "x.h5", coded_matrix(4, 3), 2, samples=False)
    data = io.read(path)
    np.testing.assert_array_equal(data.sample_names, ["sample_0", "sample_1", "sample_2", "sample_3"])


def test_unknown_hdf5_layout_lists_datasets(tmp_path):
    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as h5:
        h5["matrix/values"] = np.ones((3, 4))
        h5["names"] = np.char.encode(gene_names(4))
    with pytest.raises(DataFormatError, match=r"matrix/values \(3, 4\)") as err:
        io.read(path)
    assert "names (4,)" in str(err.value) and str(path) in str(err.value)
    with pytest.raises(DataFormatError, match="matrix/values"):
        io.describe(path)


def test_gene_list_matching_no_axis_is_an_error(tmp_path):
    path = write_archs4(tmp_path / "x.h5", coded_matrix(5, 4), 2, genes=gene_names(7))
    with pytest.raises(DataFormatError, match=r"7 names.*matches neither axis"):
        io.read(path)


def test_sample_list_inconsistent_with_orientation(tmp_path):
    path = write_archs4(tmp_path / "x.h5", coded_matrix(5, 4), 1, samples=sample_names(3))
    with pytest.raises(DataFormatError, match="sample list has 3 names"):
        io.read(path)


def test_gene_list_missing_is_an_error(tmp_path):
    path = tmp_path / "x.h5"
    with h5py.File(path, "w") as h5:
        h5["data/expression"] = np.ones((3, 4))
    with pytest.raises(DataFormatError, match="no gene-name list"):
        io.read(path)


def test_singlecell_threshold_on_fake_file(tmp_path):
    probability = np.array([0.0, 0.9, 0.2, 0.5, 0.7, 0.1])
    X = coded_matrix(6, 4)
    path = write_archs4(tmp_path / "sc.h5", X, 2, singlecell=probability)
    data = io.read(path, singlecell_threshold=0.5)
    np.testing.assert_array_equal(data.X, X[[0, 2, 5]])
    # filtering applies to an explicit selection too, keeping its order
    data = io.read(path, samples=[5, 1, 0], singlecell_threshold=0.5)
    np.testing.assert_array_equal(data.sample_names, ["GSM5", "GSM0"])
    all_single = write_archs4(tmp_path / "all.h5", X, 2, singlecell=np.full(6, 0.8))
    with pytest.raises(InputError, match="no samples .* left"):
        io.read(all_single, singlecell_threshold=0.5)


def test_singlecell_threshold_without_probabilities(tmp_path):
    path = write_archs4(tmp_path / "x.h5", coded_matrix(4, 3), 1)
    with pytest.raises(InputError, match="singlecellprobability.*singlecell_threshold=None"):
        io.read(path, singlecell_threshold=0.5)


def test_random_subset_of_an_explicit_selection(tmp_path):
    path = write_archs4(tmp_path / "x.h5", coded_matrix(30, 4), 2)
    chosen = [29, 3, 17, 8, 11, 25]
    data = io.read(path, samples=chosen, n_samples=3, random_state=0)
    picked = [int(name[3:]) for name in data.sample_names]
    assert set(picked) <= set(chosen) and len(picked) == 3
    assert picked == [c for c in chosen if c in picked], "keeps the order of the selection"


@pytest.mark.parametrize("trial", range(6))
def test_read_selection_matches_numpy(tmp_path, trial):
    """Block reads with tiny blocks, sparse and dense, one or both axes fancy, against numpy."""
    rng = np.random.default_rng(trial)
    full = rng.integers(0, 100, size=(rng.integers(1, 60), rng.integers(1, 60))).astype(np.int32)
    path = tmp_path / "m.h5"
    with h5py.File(path, "w") as h5:
        h5.create_dataset("m", data=full, chunks=(7, 5), compression="gzip")
    with h5py.File(path) as h5:
        for _ in range(5):
            rows = np.sort(rng.choice(full.shape[0], size=rng.integers(1, full.shape[0] + 1), replace=False))
            cols = np.sort(rng.choice(full.shape[1], size=rng.integers(1, full.shape[1] + 1), replace=False))
            block_bytes = int(rng.choice([4, 64, 1000, 1 << 20]))
            got = io.read_selection(h5["m"], rows, cols, np.float64, max_block_bytes=block_bytes)
            np.testing.assert_array_equal(got, full[np.ix_(rows, cols)])
        np.testing.assert_array_equal(io.read_selection(h5["m"], None, None, np.float32, 16), full)


# ----------------------------------------------------------------------------- text tables


@pytest.mark.parametrize("name, delimiter, compress", [
    ("t.csv", ",", False), ("t.csv.gz", ",", True), ("t.tsv", "\t", False), ("t.tsv.gz", "\t", True),
])
def test_text_tables(tmp_path, counts, name, delimiter, compress):
    genes, samples = gene_names(7), sample_names(13)
    path = write_csv(tmp_path / name, counts, genes, samples, delimiter=delimiter, compress=compress)
    data = io.read(path, dtype=np.float64)
    np.testing.assert_array_equal(data.X, counts)
    np.testing.assert_array_equal(data.gene_names, genes)
    np.testing.assert_array_equal(data.sample_names, samples)
    assert data.layout == name.split(".")[1]


def test_transposed_csv_and_r_style_header(tmp_path, counts):
    genes, samples = gene_names(7), sample_names(13)
    path = write_csv(tmp_path / "genes_rows.csv", counts.T, samples, genes)
    data = io.read(path, transpose=True, dtype=np.float64)
    np.testing.assert_array_equal(data.X, counts)
    np.testing.assert_array_equal(data.gene_names, genes)
    np.testing.assert_array_equal(data.sample_names, samples)
    r_style = write_csv(tmp_path / "r.csv", counts, genes, samples, header_id=None)
    np.testing.assert_array_equal(io.read(r_style).gene_names, genes)


def test_csv_selection_and_describe(tmp_path, counts):
    path = write_csv(tmp_path / "t.csv", counts, gene_names(7), sample_names(13))
    data = io.read(path, samples=["GSM4", "GSM1"], genes=[6, 2], dtype=np.float64)
    np.testing.assert_array_equal(data.X, counts[np.ix_([4, 1], [6, 2])])
    summary = io.describe(path)
    assert summary["shape"] == (13, 7) and summary["format"] == "csv"


def test_ragged_csv_names_the_line(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("sample,a,b,c\ns1,1,2,3\ns2,4,5\n")
    with pytest.raises(DataFormatError, match=r"line 3 \(row id 's2'\) has 3 fields, but 4"):
        io.read(path)


def test_non_numeric_csv_cell_names_row_and_column(tmp_path):
    path = tmp_path / "n.csv"
    path.write_text("sample,a,b,c\ns1,1,2,3\ns2,4,x7,6\n")
    with pytest.raises(InputError, match=r"line 3 \(row id 's2'\), column 3 \('b'\) holds 'x7'"):
        io.read(path)


@pytest.mark.parametrize("bad", ["nan", "inf", "-inf"])
def test_nan_and_inf_are_refused(tmp_path, bad):
    path = tmp_path / "n.csv"
    path.write_text(f"sample,a,b\ns1,1,2\ns2,{bad},5\n")
    with pytest.raises(InputError, match=r"NaN or infinite.*sample 's2'.*gene 'a'"):
        io.read(path)


def test_negative_values_refused_unless_allowed(tmp_path):
    path = tmp_path / "n.csv"
    path.write_text("sample,a,b\ns1,1,-2.5\ns2,3,5\n")
    with pytest.raises(InputError, match=r"negative.*sample 's1', gene 'b'.*allow_negative=True"):
        io.read(path)
    assert io.read(path, allow_negative=True).X[0, 1] == -2.5


def test_duplicated_gene_names(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("sample,a,b,a\ns1,1,2,3\n")
    with pytest.raises(InputError, match=r"duplicated gene name.*'a'.*make_unique=True"):
        io.read(path)
    np.testing.assert_array_equal(io.read(path, make_unique=True).gene_names, ["a", "b", "a-1"])
    assert list(io.read(path, genes=[0, 1]).gene_names) == ["a", "b"]
    with pytest.raises(InputError, match="ambiguous"):
        io.read(path, genes=["a"])


def test_empty_and_header_only_csv(tmp_path):
    empty, header = tmp_path / "e.csv", tmp_path / "h.csv"
    empty.write_text("")
    header.write_text("sample,a,b\n")
    with pytest.raises(DataFormatError, match="empty"):
        io.read(empty)
    with pytest.raises(InputError, match="no data rows"):
        io.read(header)


def test_binary_file_named_csv(tmp_path):
    path = tmp_path / "b.csv"
    path.write_bytes(b"\xff\xfe\x00\x81garbage")
    with pytest.raises(DataFormatError, match="UTF-8"):
        io.read(path)


# ----------------------------------------------------------------------------- npy, npz, h5ad


def test_npy_and_npz(tmp_path, counts):
    np.save(tmp_path / "x.npy", counts)
    data = io.read(tmp_path / "x.npy", samples=[3, 0], dtype=np.float64)
    np.testing.assert_array_equal(data.X, counts[[3, 0]])
    np.testing.assert_array_equal(data.gene_names[:2], ["gene_0", "gene_1"])
    transposed = io.read(tmp_path / "x.npy", transpose=True)
    assert transposed.X.shape == (7, 13)
    np.savez(tmp_path / "x.npz", data=counts, gene_names=gene_names(7), sample_names=sample_names(13))
    data = io.read(tmp_path / "x.npz", genes=["G5", "G1"], dtype=np.float64)
    np.testing.assert_array_equal(data.X, counts[:, [5, 1]])
    np.testing.assert_array_equal(data.sample_names, sample_names(13))


def test_npz_without_matrix_lists_keys(tmp_path):
    np.savez(tmp_path / "x.npz", values=np.ones((2, 2)))
    with pytest.raises(DataFormatError, match="keys found: values"):
        io.read(tmp_path / "x.npz")


def test_npy_must_be_2d_numeric(tmp_path):
    np.save(tmp_path / "x.npy", np.ones(5))
    with pytest.raises(DataFormatError, match="2-D"):
        io.read(tmp_path / "x.npy")


@pytest.mark.parametrize("sparse", [False, True])
def test_h5ad_round_trip_with_selection(tmp_path, counts, sparse):
    anndata = pytest.importorskip("anndata")
    pandas = pytest.importorskip("pandas")
    scipy_sparse = pytest.importorskip("scipy.sparse")
    X = scipy_sparse.csr_matrix(counts.astype(np.float32)) if sparse else counts.astype(np.float32)
    adata = anndata.AnnData(
        X=X,
        obs=pandas.DataFrame(index=pandas.Index(sample_names(13).tolist())),
        var=pandas.DataFrame(index=pandas.Index(gene_names(7).tolist())),
    )
    adata.write_h5ad(tmp_path / "x.h5ad")
    data = io.read(tmp_path / "x.h5ad", samples=[12, 2, 5], genes=["G3", "G0"])
    np.testing.assert_array_equal(data.X, counts[np.ix_([12, 2, 5], [3, 0])])
    np.testing.assert_array_equal(data.sample_names, ["GSM12", "GSM2", "GSM5"])
    np.testing.assert_array_equal(io.read(tmp_path / "x.h5ad").X, counts)
    assert io.describe(tmp_path / "x.h5ad")["shape"] == (13, 7)


# ----------------------------------------------------------------------------- write


@pytest.mark.parametrize("name", ["o.csv", "o.csv.gz", "o.tsv.gz", "o.h5", "o.h5ad", "o.npz"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_write_read_round_trip_is_exact(tmp_path, rng, name, dtype):
    if name.endswith("h5ad"):
        pytest.importorskip("anndata")
    X = (rng.lognormal(size=(6, 4)) * 1e3).astype(dtype)
    original = io.ExpressionData(X, ["g,1", "g 2", "g\"3", "g4"], sample_names(6), "mem", "memory")
    io.write(tmp_path / name, original)
    back = io.read(tmp_path / name, dtype=dtype)
    np.testing.assert_array_equal(back.X, X)
    np.testing.assert_array_equal(back.gene_names, original.gene_names)
    np.testing.assert_array_equal(back.sample_names, original.sample_names)
    assert os.listdir(tmp_path) == [name], "no temporary file left behind"


def test_written_hdf5_is_archs4_gen2(tmp_path, counts):
    io.write(tmp_path / "o.h5", counts)
    with h5py.File(tmp_path / "o.h5") as h5:
        np.testing.assert_array_equal(h5["data/expression"][()], counts.T)
    assert io.read(tmp_path / "o.h5").layout == "archs4-gen2"


def test_failed_write_keeps_old_file_and_leaves_no_temp(tmp_path, counts, monkeypatch):
    target = tmp_path / "o.npz"
    io.write(target, counts)
    before = target.read_bytes()

    def broken(path, data, compress):
        with open(path, "w") as fh:
            fh.write("partial")
        raise RuntimeError("disk full")

    monkeypatch.setitem(io._api.WRITERS, "npz", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        io.write(target, counts * 2)
    assert target.read_bytes() == before
    assert os.listdir(tmp_path) == ["o.npz"]


def test_write_errors(tmp_path, counts):
    with pytest.raises(InputError, match="does not exist; create it"):
        io.write(tmp_path / "missing" / "o.csv", counts)
    with pytest.raises(InputError, match="cannot tell the format"):
        io.write(tmp_path / "o.xlsx", counts)
    with pytest.raises(InputError, match="cannot tell the format"):
        io.write(tmp_path / "o.npz.gz", counts)


# ----------------------------------------------------------------------------- other bad input


def test_missing_file_is_file_not_found_and_input_error(tmp_path):
    path = tmp_path / "nope.h5"
    for exc_type in (FileNotFoundError, InputError):
        with pytest.raises(exc_type, match="nope.h5"):
            io.read(path)
    with pytest.raises(FileNotFoundError):
        io.describe(path)


def test_unknown_extension_and_format(tmp_path):
    path = tmp_path / "x.parquet"
    path.write_bytes(b"PAR1")
    with pytest.raises(InputError, match=r"'.parquet'.*format="):
        io.read(path)
    with pytest.raises(InputError, match="format='excel' is not known"):
        io.read(path, format="excel")


def test_format_override_reads_odd_names(tmp_path, counts):
    path = write_csv(tmp_path / "table.data", counts, gene_names(7), sample_names(13))
    np.testing.assert_array_equal(io.read(path, format="csv", dtype=np.float64).X, counts)


def test_bad_selections(tmp_path):
    path = write_archs4(tmp_path / "x.h5", coded_matrix(10, 6), 2)
    with pytest.raises(InputError, match="selects no samples"):
        io.read(path, samples=[])
    with pytest.raises(InputError, match="selects no genes"):
        io.read(path, genes=np.zeros(6, dtype=bool))
    with pytest.raises(InputError, match=r"2 requested gene name\(s\) are not in .*'NOPE'.*'ALSO'"):
        io.read(path, genes=["G1", "NOPE", "ALSO"])
    with pytest.raises(InputError, match="index out of range: 10"):
        io.read(path, samples=[0, 10])
    with pytest.raises(InputError, match="same sample more than once"):
        io.read(path, samples=[1, 1])
    with pytest.raises(InputError, match=r"n_samples=11 asks for more samples than are available \(10"):
        io.read(path, n_samples=11, random_state=0)
    with pytest.raises(InputError, match="n_genes must be at least 1"):
        io.read(path, n_genes=0)
    with pytest.raises(InputError, match="boolean mask of length 3"):
        io.read(path, samples=np.ones(3, dtype=bool))
    with pytest.raises(InputError, match="dtype must be"):
        io.read(path, dtype=np.int64)
    with pytest.raises(InputError, match="transpose=True applies to"):
        io.read(path, transpose=True)


def test_boolean_mask_and_single_name(tmp_path):
    X = coded_matrix(5, 4)
    path = write_archs4(tmp_path / "x.h5", X, 1)
    mask = np.array([True, False, True, False, True])
    np.testing.assert_array_equal(io.read(path, samples=mask).X, X[mask])
    np.testing.assert_array_equal(io.read(path, genes="G2").X, X[:, [2]])


def test_expression_data_checks_shapes():
    with pytest.raises(InputError, match="2 sample names and 3 gene names"):
        io.ExpressionData(np.zeros((3, 2)), ["a", "b", "c"], ["s", "t"])
    data = io.ExpressionData.from_array(np.zeros((2, 3)))
    assert "2 samples x 3 genes" in repr(data)
