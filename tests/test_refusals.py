"""Issue 14: no silent garbage. Each class of wrong input, mismatched file or stale state is
refused with a fix the user can apply where they are, or handled correctly; never turned into
wrong numbers with exit status 0."""

from __future__ import annotations

import json
import os
import stat

import numpy as np
import pytest

from csgene import CompressedSensing, io
from csgene.cli import main
from csgene.datasets import make_expression
from csgene.exceptions import InputError

FIT = ["--method", "svd", "--measurements", "20", "--modules", "10", "--sparsity", "5", "--quiet"]


@pytest.fixture(scope="module")
def counts():
    return make_expression(200, 300, 10, random_state=0)


@pytest.fixture(scope="module")
def good_csv(tmp_path_factory, counts):
    path = tmp_path_factory.mktemp("data") / "good.csv"
    io.write(path, io.ExpressionData.from_array(counts.counts, gene_names=counts.gene_names))
    return path


def run_cli(capsys, *args):
    """(exit status, stdout, stderr) of ``csgene ARGS`` run in this process."""
    status = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return status, out, err


# --------------------------------------------------------------------------- one atomic writer


def test_every_output_respects_the_umask(tmp_path, capsys, good_csv):
    old = os.umask(0o022)
    try:
        assert run_cli(capsys, "fit", good_csv, *FIT, "--out", tmp_path / "m.h5")[0] == 0
        assert run_cli(capsys, "design", "--genes-from", good_csv, "--measurements", 5,
                       "--out", tmp_path / "design.csv")[0] == 0
        assert run_cli(capsys, "run", "--data", good_csv, "--methods", "mean", "--measurements", 10,
                       "--repeats", 1, "--device", "cpu", "--quiet", "--out", tmp_path / "run")[0] == 0
    finally:
        os.umask(old)
    written = [tmp_path / "m.h5", tmp_path / "design.csv", *sorted((tmp_path / "run").glob("*.*"))]
    assert any(p.suffix == ".png" for p in written) and any(p.name == "run.json" for p in written)
    for path in written:
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path
    assert not [p for p in tmp_path.rglob(".*") if p.is_file()], "temporary files left behind"
