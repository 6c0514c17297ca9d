"""End-to-end tests of every subcommand, run as a user would (subprocesses)."""

import csv
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from csgene.datasets import make_expression
from csgene.results import RESULT_COLUMNS

PNG = b"\x89PNG\r\n\x1a\n"
SMALL_RUN = ["--samples", "120", "--genes", "60", "--measurements", "10,20", "--repeats", "1", "--quiet"]


def csgene(*args, cwd=None, check=True):
    proc = subprocess.run(
        [sys.executable, "-m", "csgene", *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=600
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"csgene {' '.join(map(str, args))} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture(scope="module")
def counts_csv(tmp_path_factory):
    data = make_expression(n_samples=150, n_genes=80, n_modules=8, random_state=1)
    path = tmp_path_factory.mktemp("data") / "counts.csv"
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["sample", *data.gene_names])
        for name, row in zip(data.sample_names, data.counts):
            writer.writerow([name, *row.tolist()])
    return path


def test_version_and_help():
    out = csgene("--version").stdout
    assert out.startswith("csgene ") and out.split()[1][0].isdigit()
    assert "run" in csgene("--help").stdout
    assert "--measurements" in csgene("run", "--help").stdout


def test_run_on_builtin_data_writes_tables_csvs_and_plots(tmp_path):
    proc = csgene("run", "--methods", "mean,ridge,svd", *SMALL_RUN, "--out", tmp_path / "out")
    assert "pearson_sample (mean ± sd over repeats)" in proc.stdout and "d=20" in proc.stdout
    out = tmp_path / "out"
    with open(out / "results.csv", newline="") as fh:
        reader = csv.DictReader(fh)
        assert set(("method", "n_measurements", "repeat", "pearson_sample", "pearson_sample_centered",
                    "distance_corr", "pearson_gene", "fit_seconds", "recover_seconds")) <= set(reader.fieldnames)
        assert len(list(reader)) == 4 * 2
    assert (out / "summary.csv").exists() and (out / "run.json").exists()
    for png in ("pearson_sample.png", "distance_corr.png"):
        content = (out / png).read_bytes()
        assert content.startswith(PNG) and len(content) > 1000
    # plot re-draws from the directory
    (out / "pearson_sample.png").unlink()
    csgene("plot", out)
    assert (out / "pearson_sample.png").read_bytes().startswith(PNG)


def test_run_on_a_data_file_and_refusal_of_changed_settings(tmp_path, counts_csv):
    out = tmp_path / "out"
    csgene("run", "--data", counts_csv, "--methods", "mean,svd", *SMALL_RUN[2:], "--out", out)
    assert len(list(csv.DictReader(open(out / "results.csv")))) == 3 * 2
    proc = csgene("run", "--data", counts_csv, "--methods", "mean,svd", *SMALL_RUN[2:], "--snr", "9",
                  "--out", out, check=False)
    assert proc.returncode == 2
    assert "different settings" in proc.stderr and "snr" in proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_interrupted_run_leaves_valid_file_and_resumes(tmp_path):
    out = tmp_path / "out"
    args = [sys.executable, "-m", "csgene", "run", "--methods", "mean,ridge,gaussian,svd", "--samples", "300",
            "--genes", "200", "--measurements", "10,20,30,40", "--repeats", "3", "--quiet", "--out", str(out)]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    results = out / "results.csv"
    deadline = time.time() + 300
    try:
        while time.time() < deadline:
            if results.exists() and len(results.read_text().splitlines()) >= 4:
                break
            if proc.poll() is not None:
                break
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    with open(results, newline="") as fh:
        before = list(csv.DictReader(fh))
    assert 3 <= len(before) < 5 * 4 * 3, "the run should have been killed part-way"
    subprocess.run(args, check=True, capture_output=True, timeout=600)
    with open(results, newline="") as fh:
        reader = csv.DictReader(fh)
        assert tuple(reader.fieldnames) == RESULT_COLUMNS
        after = list(reader)
    assert len(after) == 5 * 4 * 3
    assert after[: len(before)] == before
    keys = [(r["method"], r["n_measurements"], r["repeat"]) for r in after]
    assert len(set(keys)) == len(keys)


def test_fit_refuses_an_unsavable_method_before_fitting(tmp_path, counts_csv):
    proc = csgene("fit", counts_csv, "--method", "smaf+mlp", "--out", tmp_path / "m.h5", check=False)
    assert proc.returncode != 0 and "cannot be saved" in proc.stderr and "mlp" in proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "m.h5").exists()


def test_fit_design_simulate_recover_info(tmp_path, counts_csv):
    model = tmp_path / "model.h5"
    proc = csgene("fit", counts_csv, "--method", "svd", "--measurements", "20", "--modules", "10", "--out", model)
    assert "written to" in proc.stdout
    info = csgene("info", model).stdout
    assert "csgene model file" in info and "20 measurements" in info
    assert "80" in csgene("info", counts_csv).stdout

    design = tmp_path / "design.csv"
    csgene("design", "--genes-from", counts_csv, "--measurements", "12", "--kind", "binary-pools", "--out", design)
    header = open(design).readline().strip().split(",")
    assert len(header) == 13

    measured = tmp_path / "y.csv"
    csgene("simulate", counts_csv, "--model", model, "--snr", "inf", "--out", measured)
    recovered = tmp_path / "x.csv"
    csgene("recover", model, measured, "--out", recovered)
    rows = list(csv.reader(open(recovered)))
    assert len(rows) == 151 and len(rows[0]) == 81
    values = np.array([[float(v) for v in r[1:]] for r in rows[1:]])
    assert np.isfinite(values).all() and values.min() >= -1e-6  # counts space after inverse log1p

    simulated = tmp_path / "y2.csv"
    csgene("simulate", counts_csv, "--design-file", design, "--out", simulated)
    assert len(open(simulated).readline().split(",")) == 13


def test_heatmap(tmp_path, counts_csv):
    out = tmp_path / "heat.png"
    csgene("plot", "--heatmap", counts_csv, "--out", out)
    assert out.read_bytes().startswith(PNG) and out.stat().st_size > 1000


@pytest.mark.parametrize(
    "args, message",
    [
        (["run", "--data", "/nonexistent/file.h5", "--out", "{tmp}/o"], "nonexistent"),
        (["run", "--methods", "magic", "--out", "{tmp}/o"], "unknown method"),
        (["recover", "{tmp}/missing.h5", "{tmp}/y.csv", "--out", "{tmp}/x.csv"], "does not exist"),
        (["plot", "{tmp}"], "results.csv"),
    ],
)
def test_errors_are_one_line_without_traceback(tmp_path, args, message):
    proc = csgene(*[a.format(tmp=tmp_path) for a in args], check=False)
    assert proc.returncode == 2
    assert message in proc.stderr and "Traceback" not in proc.stderr
    verbose = csgene(*[a.format(tmp=tmp_path) for a in args], "--verbose", check=False)
    assert "Traceback" in verbose.stderr


def test_streaming_simulate_and_recover_of_hdf5_files(tmp_path, counts_csv):
    from csgene import io

    data = io.read(counts_csv)
    h5 = tmp_path / "counts.h5"
    io.write(h5, data)
    model = tmp_path / "model.h5"
    csgene("fit", counts_csv, "--method", "svd", "--measurements", "15", "--modules", "10", "--out", model)
    measured = tmp_path / "y.h5"
    proc = csgene("simulate", h5, "--model", model, "--snr", "inf", "--block-size", "256", "--out", measured)
    assert "block by block" in proc.stdout
    recovered = tmp_path / "x.h5"
    csgene("recover", model, measured, "--out", recovered, "--quiet")
    streamed = io.read(recovered, allow_negative=True)
    in_memory = tmp_path / "x.csv"
    csgene("recover", model, measured.with_suffix(".h5"), "--out", in_memory)
    expected = io.read(in_memory, allow_negative=True)
    np.testing.assert_allclose(streamed.X, expected.X, rtol=1e-5, atol=1e-4)
    np.testing.assert_array_equal(streamed.gene_names, data.gene_names)
    np.testing.assert_array_equal(streamed.sample_names, data.sample_names)
