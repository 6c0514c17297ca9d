"""The command line's selection flags: --samples-from, --genes-from, --search, --series, --layer."""

from __future__ import annotations

import json

import numpy as np
import pytest

from csgene import io
from csgene.cli import main
from csgene.pipeline import CompressedSensing

from test_io_metadata import write_with_metadata

pytest.importorskip("pandas")


@pytest.fixture
def archs4(tmp_path):
    return write_with_metadata(tmp_path / "meta.h5", 2)


def lines(path, *names):
    path.write_text("# a comment\n" + "\n".join(names) + "\n\n")
    return path


def test_fit_reads_only_the_selected_samples_and_genes(archs4, tmp_path, capsys):
    genes = lines(tmp_path / "genes.txt", "G4", "G1", "G2")
    model_path = tmp_path / "m.h5"
    code = main(["fit", str(archs4), "--search", "myoblast", "--genes-from", str(genes), "--method", "svd",
                 "--measurements", "2", "--modules", "2", "--sparsity", "1", "--preprocess", "none",
                 "--out", str(model_path), "--quiet"])
    assert code == 0
    assert "3 training samples × 3 genes" in capsys.readouterr().out  # GSM0, GSM2, GSM3
    assert CompressedSensing.load(model_path).gene_names_.tolist() == ["G4", "G1", "G2"]


def test_simulate_with_samples_from_and_series(archs4, tmp_path):
    samples = lines(tmp_path / "samples.txt", "GSM7", "GSM1", "GSM6")
    design = tmp_path / "design.csv"
    assert main(["design", "--genes-from", str(archs4), "--measurements", "2", "--out", str(design)]) == 0
    out = tmp_path / "y.csv"
    assert main(["simulate", str(archs4), "--design-file", str(design), "--samples-from", str(samples),
                 "--series", "GSE4", "--out", str(out), "--quiet"]) == 0
    assert io.read(out, allow_negative=True).sample_names.tolist() == ["GSM7", "GSM6"]  # in the file's order


def test_run_records_the_selection(archs4, tmp_path):
    out = tmp_path / "run"
    assert main(["run", "--data", str(archs4), "--series", "GSE3,GSE4,GSE10", "--methods", "mean",
                 "--measurements", "2", "--repeats", "1", "--preprocess", "none", "--test-fraction", "0.6",
                 "--out", str(out), "--quiet"]) == 0
    info = json.loads((out / "run.json").read_text())
    assert info["data"]["n_samples"] == 5
    assert info["data"]["selection"] == {"series": "GSE3,GSE4,GSE10"}
    assert info["config"]["series"] == "GSE3,GSE4,GSE10"


def test_selection_errors_are_one_line(archs4, tmp_path, capsys):
    assert main(["run", "--search", "myoblast", "--out", str(tmp_path / "r"), "--quiet"]) == 2
    assert "pass data (--data FILE) too" in capsys.readouterr().err
    assert main(["fit", str(archs4), "--search", "osteoclast", "--out", str(tmp_path / "m.h5"), "--quiet"]) == 2
    assert "mentions 'osteoclast'" in capsys.readouterr().err
    empty = lines(tmp_path / "empty.txt")
    assert main(["fit", str(archs4), "--genes-from", str(empty), "--out", str(tmp_path / "m.h5"), "--quiet"]) == 2
    assert "holds no gene symbols" in capsys.readouterr().err
    table = tmp_path / "t.csv"
    io.write(table, io.read(archs4))
    assert main(["fit", str(table), "--search", "x", "--out", str(tmp_path / "m.h5"), "--quiet"]) == 2
    assert "--samples-from FILE instead" in capsys.readouterr().err


def test_name_lists_skip_comments_and_refuse_repeats(tmp_path):
    assert io.read_name_list(lines(tmp_path / "a.txt", "GSM1", " GSM2 ", "GSM3\textra")).tolist() == \
        ["GSM1", "GSM2", "GSM3"]
    with pytest.raises(io.DataFileNotFoundError):
        io.read_name_list(tmp_path / "missing.txt")
    from csgene.exceptions import InputError

    with pytest.raises(InputError, match="more than once: 'GSM1'"):
        io.read_name_list(lines(tmp_path / "b.txt", "GSM1", "GSM1"))


def test_sample_metadata_travels_through_simulate_and_recover(archs4, tmp_path):
    pytest.importorskip("anndata")
    model = tmp_path / "m.h5"
    assert main(["fit", str(archs4), "--method", "svd", "--measurements", "3", "--modules", "3", "--sparsity", "2",
                 "--out", str(model), "--quiet"]) == 0
    measured, recovered = tmp_path / "y.h5", tmp_path / "x.h5ad"
    assert main(["simulate", str(archs4), "--model", str(model), "--search", "myoblast", "--out", str(measured),
                 "--quiet"]) == 0
    assert main(["recover", str(model), str(measured), "--out", str(recovered), "--quiet"]) == 0
    back = io.read(recovered)
    assert back.sample_names.tolist() == ["GSM0", "GSM2", "GSM3"]
    assert back.obs["title"].tolist() == ["Myoblast day 1", "C2C12 cells", "heart"]
    assert back.obs["series_id"].tolist() == ["GSE1", "GSE2", "GSE3"]
