"""Sample metadata: ARCHS4 queries by text and series, ``obs`` through read and write, AnnData layers."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from csgene import io
from csgene.exceptions import InputError

from test_io import write_archs4

pd = pytest.importorskip("pandas")

TITLES = ["Myoblast day 1", "liver biopsy", "C2C12 cells", "heart", "kidney", "brain", "lung", "skin"]
SOURCES = ["muscle", "liver", "MYOBLAST line", "heart", "kidney", "brain", "lung", "skin"]
CHARACTERISTICS = ["age: 3", "age: 5", "tissue: muscle", "cell type: myoblast", "age: 1", "age: 2",
                   "age: 7", "age: 9"]
SERIES = ["GSE1", "GSE1,GSE2", "GSE2", "GSE3", "GSE3", "GSE10", "GSE4", "GSE4"]
N_SAMPLES, N_GENES = len(TITLES), 6


def values():
    return (100 * np.arange(N_SAMPLES)[:, None] + np.arange(N_GENES)[None, :]).astype(np.float64)


def write_with_metadata(path, generation):
    """A small ARCHS4 file (generation 1 or 2) with the metadata fields archs4py searches."""
    write_archs4(path, values(), generation, singlecell=np.linspace(0, 0.9, N_SAMPLES) if generation == 2 else None)
    strings = h5py.string_dtype("utf-8")
    where = "meta/samples/{}" if generation == 2 else "meta/Sample_{}"
    with h5py.File(path, "a") as h5:
        for field, column in (("title", TITLES), ("source_name_ch1", SOURCES),
                              ("characteristics_ch1", CHARACTERISTICS), ("series_id", SERIES)):
            h5.create_dataset(where.format(field), data=np.array(column, dtype=object), dtype=strings)
        h5.create_dataset(where.format("readsaligned"), data=np.arange(N_SAMPLES) * 1000)
    return path


@pytest.fixture(params=[1, 2], ids=["gen1", "gen2"])
def archs4_meta(tmp_path, request):
    return write_with_metadata(tmp_path / f"meta_gen{request.param}.h5", request.param)


def test_search_finds_text_in_titles_sources_and_characteristics(archs4_meta):
    data = io.read(archs4_meta, search="MyoBlast")
    # title of GSM0, source name of GSM2, characteristics of GSM3; case ignored, file order kept
    assert data.sample_names.tolist() == ["GSM0", "GSM2", "GSM3"]
    np.testing.assert_array_equal(data.X, values()[[0, 2, 3]])
    assert data.obs.index.tolist() == ["GSM0", "GSM2", "GSM3"]
    assert data.obs["title"].tolist() == [TITLES[0], TITLES[2], TITLES[3]]
    assert data.obs["readsaligned"].tolist() == [0, 2000, 3000]
    assert "geo_accession" not in data.obs and "Sample_geo_accession" not in data.obs


def test_series_selects_every_sample_listing_the_series(archs4_meta):
    data = io.read(archs4_meta, series="GSE2")
    assert data.sample_names.tolist() == ["GSM1", "GSM2"]  # GSM1 is in GSE1 and GSE2
    np.testing.assert_array_equal(data.X, values()[[1, 2]])
    assert io.read(archs4_meta, series=["gse1", "GSE4"]).sample_names.tolist() == ["GSM0", "GSM1", "GSM6", "GSM7"]
    assert io.read(archs4_meta, series="GSE1").sample_names.tolist() == ["GSM0", "GSM1"]  # not GSE10


def test_search_and_series_together_and_with_other_selections(archs4_meta):
    assert io.read(archs4_meta, search="myoblast", series="GSE2").sample_names.tolist() == ["GSM2"]
    both = io.read(archs4_meta, samples=["GSM3", "GSM2", "GSM1"], search="myoblast", genes=["G4", "G0"])
    assert both.sample_names.tolist() == ["GSM3", "GSM2"]  # the order of samples=
    np.testing.assert_array_equal(both.X, values()[[3, 2]][:, [4, 0]])
    assert both.obs["series_id"].tolist() == ["GSE3", "GSE2"]
    drawn = io.read(archs4_meta, search="myoblast", n_samples=2, random_state=0)
    assert set(drawn.sample_names) <= {"GSM0", "GSM2", "GSM3"} and len(drawn.sample_names) == 2


def test_single_cell_filter_applies_after_the_search(tmp_path):
    path = write_with_metadata(tmp_path / "gen2.h5", 2)  # probabilities 0, 0.13, 0.26, 0.39, ...
    data = io.read(path, search="myoblast", singlecell_threshold=0.3)
    assert data.sample_names.tolist() == ["GSM0", "GSM2"]


def test_query_errors_name_the_problem(archs4_meta, tmp_path):
    with pytest.raises(InputError, match="no sample .* mentions 'osteoclast'"):
        io.read(archs4_meta, search="osteoclast")
    with pytest.raises(InputError, match="series GSE99 not found"):
        io.read(archs4_meta, series=["GSE1", "GSE99"])
    with pytest.raises(InputError, match="both matches"):
        io.read(archs4_meta, search="liver", series="GSE4")
    with pytest.raises(InputError, match="search= is empty"):
        io.read(archs4_meta, search="  ")
    bare = write_archs4(tmp_path / "bare.h5", values(), 2)
    with pytest.raises(InputError, match="needs sample metadata"):
        io.read(bare, search="myoblast")
    with pytest.raises(InputError, match="needs each sample's series"):
        io.read(bare, series="GSE1")
    table = tmp_path / "t.csv"
    io.write(table, io.read(bare))
    with pytest.raises(InputError, match="without it. Select samples by name"):
        io.read(table, search="x")


def test_obs_round_trip_through_h5_and_h5ad(archs4_meta, tmp_path):
    pytest.importorskip("anndata")
    data = io.read(archs4_meta, search="myoblast")
    for name in ("out.h5", "out.h5ad"):
        back = io.read(io.write(tmp_path / name, data))
        np.testing.assert_array_equal(back.X, data.X)
        assert back.sample_names.tolist() == data.sample_names.tolist()
        pd.testing.assert_frame_equal(back.obs, data.obs, check_dtype=False)


def test_obs_must_have_one_row_per_sample():
    with pytest.raises(InputError, match="obs has 2 rows but there are 3 samples"):
        io.ExpressionData(np.zeros((3, 2)), ["a", "b"], ["s0", "s1", "s2"], obs=pd.DataFrame({"x": [1, 2]}))


# --------------------------------------------------------------------------- AnnData files


@pytest.fixture
def h5ad_with_layers(tmp_path):
    anndata = pytest.importorskip("anndata")
    import scipy.sparse as sp

    counts = np.arange(24, dtype=np.float32).reshape(6, 4)
    adata = anndata.AnnData(
        X=np.log1p(counts),
        obs=pd.DataFrame({"cell_type": pd.Categorical(list("aabbca")), "n": np.arange(6)},
                         index=[f"c{i}" for i in range(6)]),
        var=pd.DataFrame(index=[f"g{j}" for j in range(4)]),
    )
    adata.layers["counts"] = sp.csr_matrix(counts)
    adata.layers["dense"] = counts * 2
    path = tmp_path / "cells.h5ad"
    adata.write_h5ad(path)
    return path, counts


def test_h5ad_layers_are_read_by_selection(h5ad_with_layers):
    path, counts = h5ad_with_layers
    np.testing.assert_allclose(io.read(path).X, np.log1p(counts), rtol=1e-6)
    sparse = io.read(path, layer="counts", samples=["c4", "c1"], genes=["g3", "g0"])
    np.testing.assert_array_equal(sparse.X, counts[[4, 1]][:, [3, 0]])
    assert sparse.obs["cell_type"].tolist() == ["c", "a"] and sparse.obs.index.tolist() == ["c4", "c1"]
    np.testing.assert_array_equal(io.read(path, layer="dense").X, counts * 2)
    assert "layer 'counts'" in sparse.layout


def test_h5ad_layer_errors(h5ad_with_layers, tmp_path):
    path, _ = h5ad_with_layers
    with pytest.raises(InputError, match="no layer 'raw'; its layers are 'counts', 'dense'"):
        io.read(path, layer="raw")
    table = io.write(tmp_path / "t.csv", io.read(path))
    with pytest.raises(InputError, match="applies to AnnData"):
        io.read(table, layer="counts")


def test_h5ad_obs_round_trip_keeps_values_and_columns(h5ad_with_layers, tmp_path):
    path, counts = h5ad_with_layers
    data = io.read(path, layer="counts")
    back = io.read(io.write(tmp_path / "again.h5ad", data))
    np.testing.assert_array_equal(back.X, counts)
    pd.testing.assert_frame_equal(back.obs, data.obs)
    assert str(back.obs["cell_type"].dtype) == "category"


def test_describe_lists_the_metadata_fields(archs4_meta, tmp_path):
    fields = set(io.describe(archs4_meta)["metadata"]) - {"singlecellprobability"}  # gen 2 only
    assert fields == {"characteristics_ch1", "readsaligned", "series_id", "source_name_ch1", "title"}
    assert io.describe(write_archs4(tmp_path / "bare.h5", values(), 2))["metadata"] == "none"


def test_read_metadata_without_the_values(archs4_meta, tmp_path):
    meta = io.read_metadata(archs4_meta, series="GSE3")
    assert meta.index.tolist() == ["GSM3", "GSM4"]
    assert meta["title"].tolist() == ["heart", "kidney"]
    assert io.read_metadata(archs4_meta, samples=["GSM6", "GSM0"])["series_id"].tolist() == ["GSE4", "GSE1"]
    assert len(io.read_metadata(archs4_meta)) == N_SAMPLES
    table = io.write(tmp_path / "t.csv", io.read(archs4_meta))
    with pytest.raises(InputError, match="holds no per-sample metadata"):
        io.read_metadata(table)
