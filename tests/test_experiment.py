"""The experiment runner: result rows, summary, resume, refusal of changed settings."""

import csv
import json

import numpy as np
import pytest

from csgene._device import resolve_device
from csgene.exceptions import InputError
from csgene.experiment import ExperimentConfig, run_experiment
from csgene.results import MEASUREMENT_SPACE, RESULT_COLUMNS, format_table, read_results, summarize


def small_config(**kw):
    base = dict(methods=["mean", "ridge", "svd"], measurements=[10, 20], repeats=2, samples=120, genes=60,
                snr=2.0, seed=3, synthetic_modules=8)
    base.update(kw)
    return ExperimentConfig(**base)


def test_run_writes_every_row_summary_and_plots(tmp_path):
    rows = run_experiment(small_config(), tmp_path, quiet=True)
    assert len(rows) == (3 + 1) * 2 * 2
    with open(tmp_path / "results.csv", newline="") as fh:
        reader = csv.DictReader(fh)
        assert tuple(reader.fieldnames) == RESULT_COLUMNS
        on_disk = list(reader)
    assert len(on_disk) == len(rows)
    keys = {(r["method"], r["n_measurements"], r["repeat"]) for r in on_disk}
    assert ("svd", "20", "1") in keys and (MEASUREMENT_SPACE, "10", "0") in keys
    assert all(row["error"] == "" for row in on_disk)
    by = {_key(r): r for r in rows}
    for (method, d, rep), row in by.items():
        mean_row = by[("mean", d, rep)]
        if method == MEASUREMENT_SPACE:  # similarity from the measurements alone: no profiles
            assert 0 < row["distance_corr"] <= 1 and np.isnan(row["pearson_sample"])
        elif method == "mean":  # one constant prediction, whatever the measurements
            assert row["pearson_sample"] == by[("mean", 10, rep)]["pearson_sample"]
            assert row["pearson_sample_centered"] == row["distance_corr"] == row["pearson_gene"] == 0
        else:  # ridge, svd: recover something of each sample beyond the mean, per sample and per gene
            assert mean_row["pearson_sample"] < row["pearson_sample"] <= 1
            assert 0.3 < row["pearson_sample_centered"] <= 1 and 0.3 < row["pearson_gene"] <= 1
            assert 0.1 < row["distance_corr"] <= 1
    run = json.loads((tmp_path / "run.json").read_text())
    assert run["complete"] and run["config"]["seed"] == 3 and "numba" in run["versions"]
    assert run["device"] == resolve_device(small_config().device)  # what "auto"/"cpu" became here
    summary = list(csv.DictReader(open(tmp_path / "summary.csv")))
    assert len(summary) == 4 * 2 and all(s["n_repeats"] == "2" for s in summary)
    for name in ("pearson_sample.png", "distance_corr.png", "pearson_sample_centered.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_mean_baseline_has_zero_centered_score_and_ridge_beats_it(tmp_path):
    rows = run_experiment(small_config(methods=["mean", "ridge"]), tmp_path, quiet=True)
    mean_rows = [r for r in rows if r["method"] == "mean"]
    assert all(abs(r["pearson_sample_centered"]) < 1e-9 for r in mean_rows)
    by = {(r["method"], r["n_measurements"], r["repeat"]): r for r in rows}
    for d in (10, 20):
        for rep in (0, 1):
            assert by[("ridge", d, rep)]["pearson_sample"] > by[("mean", d, rep)]["pearson_sample"]


def test_same_seed_reproduces_and_resume_skips_done_rows(tmp_path):
    first = run_experiment(small_config(repeats=1), tmp_path / "a", quiet=True)
    again = run_experiment(small_config(repeats=1), tmp_path / "a", quiet=True)
    assert len(again) == len(first)
    other = run_experiment(small_config(repeats=1), tmp_path / "b", quiet=True)
    for a, b in zip(sorted(first, key=_key), sorted(other, key=_key)):
        assert a["pearson_sample"] == pytest.approx(b["pearson_sample"], nan_ok=True, rel=1e-9)


def _key(row):
    return (row["method"], row["n_measurements"], row["repeat"])


def test_resume_completes_a_partial_results_file(tmp_path):
    full = run_experiment(small_config(), tmp_path / "full", quiet=True)
    partial_dir = tmp_path / "partial"
    run_experiment(small_config(), partial_dir, quiet=True)
    rows = read_results(partial_dir / "results.csv")
    kept = rows[:5]  # as if interrupted after five rows
    from csgene.results import write_csv_atomic

    write_csv_atomic(partial_dir / "results.csv", kept, RESULT_COLUMNS)
    resumed = run_experiment(small_config(), partial_dir, quiet=True)
    assert len(resumed) == len(full)
    got = {_key(r): r["pearson_sample"] for r in resumed}
    want = {_key(r): r["pearson_sample"] for r in full}
    assert got.keys() == want.keys()
    for key in want:
        assert got[key] == pytest.approx(want[key], nan_ok=True, rel=1e-6)


def test_changed_setting_is_refused(tmp_path):
    run_experiment(small_config(repeats=1, measurements=[10]), tmp_path, quiet=True)
    with pytest.raises(InputError, match="snr"):
        run_experiment(small_config(repeats=1, measurements=[10], snr=5.0), tmp_path, quiet=True)


def test_bad_settings_are_refused(tmp_path):
    with pytest.raises(InputError, match="unknown method"):
        run_experiment(small_config(methods=["magic"]), tmp_path, quiet=True)
    with pytest.raises(InputError, match="measurements"):
        run_experiment(small_config(measurements=[0]), tmp_path, quiet=True)


def test_summary_and_table_layout():
    rows = [
        {"method": "svd", "n_measurements": 10, "repeat": r, "pearson_sample": v}
        for r, v in enumerate([0.5, 0.7])
    ]
    summary = summarize(rows)
    assert summary[0]["pearson_sample_mean"] == pytest.approx(0.6)
    assert summary[0]["pearson_sample_sd"] == pytest.approx(np.std([0.5, 0.7], ddof=1))
    table = format_table(summary, "pearson_sample")
    assert "d=10" in table and "0.600 ± 0.141" in table


def test_neural_methods_record_training_curves(tmp_path):
    pytest.importorskip("torch", reason="needs the nn extra: pip install 'csgene[nn]'")
    run_experiment(small_config(methods=["mean", "mlp", "gan"], measurements=[10, 20], repeats=1), tmp_path,
                   quiet=True)
    mlp = json.loads((tmp_path / "training" / "mlp_r0_d10.json").read_text())
    assert (tmp_path / "training" / "mlp_r0_d20.json").exists()  # trained anew for each design
    # the GAN trains once per repeat, whatever d: one file, no copies per d
    gan = json.loads((tmp_path / "training" / "gan_r0.json").read_text())
    assert gan["n_measurements"] is None
    assert sorted(p.name for p in (tmp_path / "training").glob("gan*")) == ["gan_r0.json"]
    assert mlp["method"] == "mlp" and len(mlp["train"]) == len(mlp["val"]) >= 1
    assert 0 <= mlp["best_epoch"] < len(mlp["val"])
    assert len(gan["generator_loss"]) == len(gan["train"]) == len(gan["val"]) > 1
    assert np.all(np.isfinite(gan["train"]))
    assert not list((tmp_path / "training").glob("mean*"))
    assert (tmp_path / "training.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
