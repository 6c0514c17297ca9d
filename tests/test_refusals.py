"""Issue 14: no silent garbage. Each class of wrong input, mismatched file or stale state is
refused with a fix the user can apply where they are, or handled correctly; never turned into
wrong numbers with exit status 0."""

from __future__ import annotations

import json
import os
import re
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


# --------------------------------------------------------------------------- 1. bounded outputs


def test_recoveries_stay_in_the_training_range(tmp_path, capsys, good_csv, counts):
    """Repro 1: fit -> simulate --snr 2 -> recover gave values up to 1e19-1e25 (data max 4e5)."""
    model, Y, X = tmp_path / "a.h5", tmp_path / "Y.csv", tmp_path / "X.csv"
    assert run_cli(capsys, "fit", good_csv, *FIT, "--out", model)[0] == 0
    assert run_cli(capsys, "simulate", good_csv, "--model", model, "--snr", 2, "--out", Y)[0] == 0
    assert run_cli(capsys, "recover", model, Y, "--out", X)[0] == 0
    recovered = io.read(X).X
    assert np.isfinite(recovered).all()
    assert recovered.max() <= 2 * counts.counts.max() + 1
    per_gene = counts.counts.max(axis=0)
    assert np.all(recovered <= 2 * per_gene + 1 + 1e-3 * per_gene)


def test_far_measurements_warn_and_old_model_files_still_load(tmp_path, counts):
    cs = CompressedSensing("svd", n_measurements=20, n_modules=10, sparsity=5, random_state=0)
    cs.fit(counts.counts)
    Y = cs.measure(counts.counts[:5], random_state=0)
    with pytest.warns(UserWarning, match="far outside"):
        cs.recover(Y * 100)
    path = cs.save(tmp_path / "m.h5")
    import h5py

    with h5py.File(path, "r+") as fh:  # what a model file of csgene before issue 14 holds
        del fh["preprocess/step0.log_max_"]
        del fh.attrs["measurement_norm_max"]
        del fh.attrs["content_sha256"]
    with pytest.warns(UserWarning, match="predates"):
        old = CompressedSensing.load(path)
    assert np.isfinite(old.recover(Y)).all()


# --------------------------------------------------------------------------- 4. no hidden state


def test_log1p_cpm_recovery_does_not_depend_on_an_earlier_measure(counts):
    """Repro 4: recovering the same Y before and after measuring another batch differed 41-fold."""
    cs = CompressedSensing("svd", n_measurements=20, n_modules=10, sparsity=5, preprocess="log1p-cpm",
                           random_state=0).fit(counts.counts[:150])
    Y = cs.measure(counts.counts[150:], random_state=1)
    before = cs.recover(Y)
    cs.measure(counts.counts[100:150] * 50, random_state=2)
    np.testing.assert_array_equal(cs.recover(Y), before)
    # counts per million without library sizes, counts with them
    assert np.median(before.sum(axis=1)) == pytest.approx(1e6, rel=0.5)
    sizes = counts.counts[150:].sum(axis=1)
    np.testing.assert_allclose(cs.recover(Y, library_size=sizes), before * (sizes / 1e6)[:, None])
    with pytest.raises(InputError, match="log1p-cpm"):
        CompressedSensing("svd", n_measurements=20, n_modules=10, sparsity=5).fit(counts.counts).recover(
            Y, library_size=sizes)


# --------------------------------------------------------------------------- 2. files checked against their maker


@pytest.mark.parametrize("ending", ["csv", "tsv.gz", "npz", "h5ad"])
def test_measurements_recovered_with_another_model_are_refused(tmp_path, capsys, good_csv, ending):
    """Repro 2: simulate with model a, recover with model b: exit 0, correlation 0.04."""
    a, b, Y = tmp_path / "a.h5", tmp_path / "b.h5", tmp_path / f"Y.{ending}"
    assert run_cli(capsys, "fit", good_csv, *FIT, "--out", a)[0] == 0
    assert run_cli(capsys, "fit", good_csv, *FIT, "--seed", 2, "--out", b)[0] == 0
    assert run_cli(capsys, "simulate", good_csv, "--model", a, "--snr", 3, "--out", Y)[0] == 0
    status, _, err = run_cli(capsys, "recover", b, Y, "--out", tmp_path / "X.csv")
    assert status == 2 and "another design" in err and "csgene recover a.h5" in err
    assert not (tmp_path / "X.csv").exists()
    assert run_cli(capsys, "recover", a, Y, "--out", tmp_path / "X.csv")[0] == 0
    # a lab's own file (no record of its design) is accepted
    plain = io.read(Y, allow_negative=True)
    io.write(tmp_path / "lab.csv", io.ExpressionData.from_array(plain.X))
    assert run_cli(capsys, "recover", b, tmp_path / "lab.csv", "--out", tmp_path / "X2.csv")[0] == 0


def test_streamed_measurements_name_the_model_that_made_them(tmp_path, counts):
    from csgene import scale

    names = counts.gene_names
    data = tmp_path / "data.h5"
    io.write(data, io.ExpressionData.from_array(counts.counts, gene_names=names))
    models = []
    for seed in (0, 2):
        path = CompressedSensing("svd", n_measurements=20, n_modules=10, sparsity=5, random_state=seed).fit(
            counts.counts, gene_names=names).save(tmp_path / f"m{seed}.h5")
        models.append(CompressedSensing.load(path))
    scale.simulate_file(models[0], data, tmp_path / "Y.h5", progress=False)
    with pytest.raises(InputError, match="model m0.h5"):
        scale.recover_file(models[1], tmp_path / "Y.h5", tmp_path / "X.h5", progress=False)


def test_library_recover_checks_the_design_of_a_measurements_file(tmp_path, counts):
    a, b = (CompressedSensing("svd", n_measurements=20, n_modules=10, sparsity=5, random_state=s).fit(
        counts.counts) for s in (0, 2))
    Y = io.ExpressionData.from_array(a.measure(counts.counts[:5], random_state=0))
    Y.attrs = a.measurement_marks()
    io.write(tmp_path / "Y.csv", Y)
    with pytest.raises(InputError, match="another design"):
        b.recover(io.read(tmp_path / "Y.csv", allow_negative=True))
    assert a.recover(io.read(tmp_path / "Y.csv", allow_negative=True)).shape == (5, 300)


# --------------------------------------------------------------------------- 3. run folders


RUN = ["--methods", "mean", "--repeats", 1, "--device", "cpu", "--quiet"]


def test_resume_refuses_a_changed_data_file(tmp_path, capsys):
    """Repro 3: rewriting --data between an interrupted run and its resume mixed two data sets."""
    data, out = tmp_path / "d.csv", tmp_path / "run"
    first = make_expression(60, 50, 5, random_state=0)
    io.write(data, io.ExpressionData.from_array(first.counts, gene_names=first.gene_names))
    assert run_cli(capsys, "run", "--data", data, "--measurements", 10, *RUN, "--out", out)[0] == 0
    results = (out / "results.csv").read_text().splitlines()
    (out / "results.csv").write_text("\n".join(results[:2]) + "\n")  # as if killed after one row
    second = make_expression(60, 50, 5, random_state=1)
    io.write(data, io.ExpressionData.from_array(second.counts, gene_names=second.gene_names))
    status, _, err = run_cli(capsys, "run", "--data", data, "--measurements", 10, *RUN, "--out", out)
    assert status == 2 and "--out NEWDIR" in err and "never mixed" in err
    assert len((out / "results.csv").read_text().splitlines()) == 2
    # the original data resume, as before
    io.write(data, io.ExpressionData.from_array(first.counts, gene_names=first.gene_names))
    assert run_cli(capsys, "run", "--data", data, "--measurements", 10, *RUN, "--out", out)[0] == 0
    assert len((out / "results.csv").read_text().splitlines()) == len(results)
    assert json.loads((out / "run.json").read_text())["data_fingerprint"]["hashed"] == "whole"


@pytest.mark.parametrize("bad, fixed", [
    (["--preprocess", "bogus"], []),
    (["--design", "bogus"], []),
    (["--modules", "0"], []),
    (["--methods", "mean,mean"], []),
])
def test_invalid_settings_are_refused_before_anything_is_written(tmp_path, capsys, good_csv, bad, fixed):
    out = tmp_path / "run"
    status, _, err = run_cli(capsys, "run", "--data", good_csv, "--measurements", 10, *RUN, *bad, "--out", out)
    assert status == 2 and "error" in err
    assert not out.exists()
    assert run_cli(capsys, "run", "--data", good_csv, "--measurements", 10, *RUN, *fixed, "--out", out)[0] == 0


def test_a_run_folder_without_results_takes_new_settings(tmp_path, capsys, good_csv):
    out = tmp_path / "run"
    out.mkdir()
    (out / "run.json").write_text(json.dumps({"config": {"preprocess": "bogus"}}))
    assert run_cli(capsys, "run", "--data", good_csv, "--measurements", 10, *RUN, "--out", out)[0] == 0


def test_repeated_measurement_counts_do_not_fake_replication(tmp_path, capsys, good_csv):
    status, _, err = run_cli(capsys, "run", "--data", good_csv, "--measurements", "20,20", *RUN,
                             "--out", tmp_path / "run")
    assert status == 2 and "more than once" in err and not (tmp_path / "run").exists()


@pytest.mark.parametrize("seed", ["-1", str(2**32), "1.5"])
def test_out_of_range_seeds_are_refused(tmp_path, capsys, good_csv, seed):
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", str(good_csv), *FIT, "--seed", seed, "--out", str(tmp_path / "m.h5")])
    assert exit_info.value.code == 2 and "0 to 4294967295" in capsys.readouterr().err
    assert run_cli(capsys, "fit", good_csv, *FIT, "--seed", 2**32 - 1, "--out", tmp_path / "m.h5")[0] == 0
    with pytest.raises(InputError, match="random_state"):
        CompressedSensing("svd", n_measurements=5, n_modules=3, random_state=-1).fit(np.ones((4, 6)))


# --------------------------------------------------------------------------- 5. names


def test_gene_alignment_refuses_ambiguous_names(counts):
    """Repro 5: a duplicated name silently took the last column; a longer list gave an IndexError."""
    names = np.array([f"g{i}" for i in range(300)])
    cs = CompressedSensing("svd", n_measurements=10, n_modules=5, sparsity=3, random_state=0)
    cs.fit(counts.counts, gene_names=names)
    doubled = np.c_[counts.counts[:, :1] * 0 + 999, counts.counts]
    with pytest.raises(InputError, match="more than once"):
        cs.measure(doubled, gene_names=np.r_[names[:1], names])
    with pytest.raises(InputError, match="301 entries"):
        cs.measure(counts.counts, gene_names=np.r_[names, ["extra"]])
    shuffled = np.random.default_rng(0).permutation(300)
    np.testing.assert_array_equal(cs.measure(counts.counts[:, shuffled], gene_names=names[shuffled]),
                                  cs.measure(counts.counts))


def test_numeric_csv_headers_are_refused(tmp_path):
    path = tmp_path / "noheader.csv"
    path.write_text("s1,1,2,3\ns2,4,5,6\n")
    with pytest.raises(InputError, match="all numbers"):
        io.read(path)


def test_h5ad_without_x_is_refused(tmp_path, capsys):
    anndata = pytest.importorskip("anndata")
    import pandas as pd

    path = tmp_path / "noX.h5ad"
    anndata.AnnData(obs=pd.DataFrame(index=["a", "b"]), var=pd.DataFrame(index=["x", "y"])).write_h5ad(path)
    for command in (["info", path], ["fit", path, *FIT, "--out", tmp_path / "m.h5"]):
        status, _, err = run_cli(capsys, *command)
        assert status == 2 and "no X matrix" in err


# --------------------------------------------------------------------------- fixes the user can apply


def test_cli_errors_name_cli_flags_not_library_arguments(tmp_path, capsys, counts):
    names = np.array([f"g{i}" for i in range(300)])
    names[1] = "g0"
    dup = tmp_path / "dup.csv"
    io.write(dup, io.ExpressionData.from_array(counts.counts, gene_names=names))
    negative = tmp_path / "neg.csv"
    io.write(negative, io.ExpressionData.from_array(counts.counts - 1.0))
    exists = tmp_path / "Y.h5"
    exists.write_bytes(b"")
    data_h5 = tmp_path / "data.h5"
    io.write(data_h5, io.ExpressionData.from_array(counts.counts, gene_names=counts.gene_names))
    model = tmp_path / "m.h5"
    CompressedSensing("svd", n_measurements=10, n_modules=5, sparsity=3, random_state=0).fit(
        counts.counts, gene_names=counts.gene_names).save(model)
    cases = [
        (["fit", dup, *FIT, "--out", tmp_path / "x.h5"], "rename or remove"),
        (["fit", negative, *FIT, "--preprocess", "none", "--out", tmp_path / "x.h5"], "--allow-negative"),
        (["simulate", data_h5, "--model", model, "--out", exists], "--overwrite"),
        (["fit", tmp_path / "data.xyz", *FIT, "--out", tmp_path / "x.h5"], "Rename the file"),
        (["fit", data_h5, *FIT, "--genes", 100000, "--out", tmp_path / "x.h5"], "--genes <= 300"),
        (["fit", data_h5, *FIT, "--out", tmp_path / "no" / "x.h5"], "create it first"),
        (["simulate", data_h5, "--model", model, "--block-size", 0, "--out", tmp_path / "Y2.h5"], "--block-size"),
    ]
    (tmp_path / "data.xyz").write_text("x")
    for args, fix in cases:
        status, _, err = run_cli(capsys, *args)
        assert status == 2 and fix in err, err
        assert not re.search(r"\b[a-z_]+=(True|False|None)|\b(library|block)_size|n_genes|format=", err), err
    assert run_cli(capsys, "fit", negative, *FIT, "--preprocess", "none", "--allow-negative",
                   "--out", tmp_path / "x.h5")[0] == 0


def test_measurement_columns_are_matched_by_name(tmp_path, capsys, good_csv):
    model, Y = tmp_path / "a.h5", tmp_path / "Y.csv"
    assert run_cli(capsys, "fit", good_csv, *FIT, "--out", model)[0] == 0
    assert run_cli(capsys, "simulate", good_csv, "--model", model, "--out", Y)[0] == 0
    measured = io.read(Y, allow_negative=True, dtype=np.float64)
    order = np.random.default_rng(0).permutation(20)
    shuffled = io.ExpressionData(measured.X[:, order], measured.gene_names[order], measured.sample_names,
                                 attrs=measured.attrs)
    io.write(tmp_path / "Ys.csv", shuffled)
    assert run_cli(capsys, "recover", model, Y, "--out", tmp_path / "X.csv")[0] == 0
    assert run_cli(capsys, "recover", model, tmp_path / "Ys.csv", "--out", tmp_path / "Xs.csv")[0] == 0
    np.testing.assert_allclose(io.read(tmp_path / "X.csv").X, io.read(tmp_path / "Xs.csv").X, rtol=1e-5)


def test_an_edited_model_file_is_refused(tmp_path, counts):
    import h5py

    from csgene.exceptions import ModelFileError

    cs = CompressedSensing("svd", n_measurements=20, n_modules=10, sparsity=5, random_state=0).fit(counts.counts)
    path = cs.save(tmp_path / "m.h5")
    CompressedSensing.load(path)
    with h5py.File(path, "r+") as fh:
        fh["design"][0, 0] += 1.0
    with pytest.raises(ModelFileError, match="changed after csgene wrote it"):
        CompressedSensing.load(path)


def test_measurements_of_raw_profiles_are_refused_by_a_log_model(tmp_path, capsys, good_csv):
    design, model, Y = tmp_path / "design.csv", tmp_path / "m.h5", tmp_path / "Y.csv"
    assert run_cli(capsys, "design", "--genes-from", good_csv, "--measurements", 20, "--out", design)[0] == 0
    assert run_cli(capsys, "fit", good_csv, *FIT, "--design-file", design, "--out", model)[0] == 0
    assert run_cli(capsys, "simulate", good_csv, "--design-file", design, "--out", Y)[0] == 0
    status, _, err = run_cli(capsys, "recover", model, Y, "--out", tmp_path / "X.csv")
    assert status == 2 and "raw profiles" in err and "--preprocess 'none'" in err


def test_paths_of_the_wrong_kind_give_errors_not_tracebacks(tmp_path, capsys, good_csv):
    folder, a_file = tmp_path / "folder", tmp_path / "a_file"
    folder.mkdir()
    a_file.write_text("")
    for args, words in [
        (["run", "--data", good_csv, "--measurements", 10, *RUN, "--out", a_file], "is a file"),
        (["fit", good_csv, *FIT, "--out", folder], "it is a folder"),
        (["design", "--genes-from", good_csv, "--measurements", 5, "--out", folder], "it is a folder"),
        (["recover", folder, good_csv, "--out", tmp_path / "X.csv"], "not a model file"),
    ]:
        status, _, err = run_cli(capsys, *args)
        assert status == 2 and words in err, err


@pytest.mark.parametrize("snr", ["1e-300", "nan", "0"])
def test_an_snr_whose_noise_overflows_is_refused(tmp_path, capsys, good_csv, snr):
    """--snr 1e-300 crashed `fit` (ZeroDivisionError) and made `simulate` write inf."""
    with pytest.raises(SystemExit):
        main(["fit", str(good_csv), *FIT, "--snr", snr, "--out", str(tmp_path / "m.h5")])
    assert "SNR must" in capsys.readouterr().err
    with pytest.raises(InputError, match="snr"):
        CompressedSensing("svd", n_measurements=5, n_modules=3, snr=float(snr)).fit(np.ones((4, 6)))


def test_outputs_never_replace_the_command_inputs(tmp_path, capsys, good_csv):
    data = tmp_path / "data.csv"
    data.write_bytes(good_csv.read_bytes())
    model = tmp_path / "m.h5"
    assert run_cli(capsys, "fit", data, *FIT, "--out", model)[0] == 0
    for args in (["simulate", data, "--model", model, "--out", data], ["fit", data, *FIT, "--out", data],
                 ["recover", model, data, "--out", model]):
        status, _, err = run_cli(capsys, *args)
        assert status == 2 and "also an input" in err, err
    assert data.read_bytes() == good_csv.read_bytes()


def test_a_transposed_square_measurements_file_is_refused(counts):
    cs = CompressedSensing("svd", n_measurements=5, n_modules=3, sparsity=2, random_state=0).fit(counts.counts)
    Y = cs.measure(counts.counts[:5], random_state=0)
    names = [f"m{i + 1}" for i in range(5)]
    with pytest.raises(InputError, match="transpose"):
        cs.recover(io.ExpressionData(Y.T, [f"s{i}" for i in range(5)], names, attrs=cs.measurement_marks()))
    assert cs.recover(io.ExpressionData(Y, names, [f"s{i}" for i in range(5)])).shape == (5, 300)


@pytest.mark.parametrize("preprocess", ["minmax", "none", "log1p+minmax"])
def test_recoveries_are_bounded_whatever_the_preprocessing(counts, preprocess):
    cs = CompressedSensing("svd", n_measurements=20, n_modules=10, sparsity=5, preprocess=preprocess,
                           random_state=0).fit(counts.counts)
    Y = cs.measure(counts.counts[:20], random_state=0)
    with pytest.warns(UserWarning, match="far outside"):
        X = cs.recover(Y * 1e4)
    low, high = counts.counts.min(axis=0), counts.counts.max(axis=0)
    bound = 2 * high + 1 if "log1p" in preprocess else 2 * high - low  # log1p: 2 (max + 1) - 1
    assert np.all(X <= bound + 1e-6 * high)
