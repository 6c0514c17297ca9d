"""Figures: one style per method, paired differences to the best baseline, titles, heatmap, training curves."""

from __future__ import annotations

import json

import numpy as np
import pytest

import csgene.plot as plot
from csgene.methods import METHODS
from csgene.results import MEASUREMENT_SPACE

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def figures(monkeypatch):
    """Keep the figures the plot functions save (and still write them)."""
    kept = []
    save = plot._save_atomic

    def keep(fig, path):
        kept.append(fig)
        save(fig, path)

    plt = plot._pyplot()
    close = plt.close
    monkeypatch.setattr(plot, "_save_atomic", keep)
    monkeypatch.setattr(plt, "close", lambda fig=None: None)
    yield kept
    for fig in kept:
        close(fig)


def rows_of(values: dict) -> list[dict]:
    """results.csv-like rows from {(method, d, repeat): pearson_sample}."""
    return [{"method": m, "n_measurements": d, "repeat": r, "pearson_sample": v, "n_test": 40.0}
            for (m, d, r), v in values.items()]


def test_no_two_methods_share_a_colour_and_baselines_are_dashed():
    names = list(METHODS) + [MEASUREMENT_SPACE]
    styles = {name: plot.method_style(name) for name in names}
    colours = [s["color"] for s in styles.values()]
    assert len(set(colours)) == len(colours)
    for name, style in styles.items():
        assert (style["linestyle"] == "--") == plot.is_baseline(name)
    baselines = [n for n in names if plot.is_baseline(n)]
    assert set(baselines) == {"mean", "ridge", "gaussian", MEASUREMENT_SPACE}
    assert len({styles[n]["marker"] for n in baselines}) == len(baselines)
    spare = {}
    assert plot.method_style("new-a", spare)["color"] != plot.method_style("new-b", spare)["color"]


def test_differences_are_paired_with_the_best_baseline_of_each_d():
    values = {
        ("mean", 10, 0): 0.50, ("mean", 10, 1): 0.50, ("ridge", 10, 0): 0.70, ("ridge", 10, 1): 0.60,
        ("mean", 20, 0): 0.90, ("mean", 20, 1): 0.90, ("ridge", 20, 0): 0.80, ("ridge", 20, 1): 0.80,
        ("smaf", 10, 0): 0.72, ("smaf", 10, 1): 0.66, ("smaf", 20, 0): 0.95, ("smaf", 20, 1): 0.85,
    }
    rows = rows_of(values)
    curves = plot._curves(plot.summarize(rows), "pearson_sample")
    deltas, best = plot._paired_deltas(rows, curves, "pearson_sample")
    assert best == {10.0: "ridge", 20.0: "mean"}
    d, mean, sd = deltas["smaf"]
    np.testing.assert_allclose(d, [10, 20])
    np.testing.assert_allclose(mean, [(0.02 + 0.06) / 2, (0.05 - 0.05) / 2], atol=1e-12)
    np.testing.assert_allclose(sd, [np.std([0.02, 0.06], ddof=1), np.std([0.05, -0.05], ddof=1)])
    assert set(deltas) == {"smaf"}


def test_result_figures_have_two_panels_outside_legend_and_a_full_title(tmp_path, figures):
    values = {(m, d, r): v + 0.01 * d + 0.001 * r for (m, v) in (("mean", 0.5), ("gaussian", 0.6), ("svd", 0.61),
              ("smaf", 0.62)) for d in (10, 20) for r in (0, 1)}
    run_info = {"config": {"data": "/x/archs4_slice_a.h5", "preprocess": "log1p", "snr": 2.0, "design": "learned-pools"},
                "data": {"n_samples": 500, "n_genes": 1000, "selection": {"search": "myoblast"}}}
    (tmp_path / "run.json").write_text(json.dumps(run_info))
    written = plot.plot_results(rows_of(values), tmp_path, metrics=("pearson_sample",))
    assert [p.name for p in written] == ["pearson_sample.png"] and written[0].read_bytes().startswith(PNG)
    fig = figures[0]
    assert len(fig.axes) == 2
    title = fig._suptitle.get_text()
    for part in ("archs4_slice_a.h5 (500 samples × 1000 genes)", "search myoblast", "preprocess log1p",
                 "learned-pools design", "SNR 2.0", "n_test 40", "2 repeats"):
        assert part in title
    legend = fig.legends[0]
    assert [t.get_text() for t in legend.get_texts()] == ["mean", "gaussian", "svd", "smaf"]
    fig.canvas.draw()
    legend_box = legend.get_window_extent()
    assert all(legend_box.x0 >= ax.get_window_extent().x1 for ax in fig.axes)  # beside the panels, not on them
    assert "best baseline" in fig.axes[1].get_ylabel()


def test_run_description_of_synthetic_data_without_noise():
    text = plot.run_description(rows_of({("svd", 10, 0): 0.5}), {"config": {"data": None, "preprocess": "none",
                                                                            "snr": "inf"}, "data": {}})
    assert text.startswith("synthetic data") and "no noise" in text and "1 repeat" in text


def test_library_size_normalisation_removes_sequencing_depth():
    rng = np.random.default_rng(0)
    X = rng.poisson(5.0, size=(6, 40)).astype(float) + 1
    deeper = X * np.array([1, 3, 1, 10, 1, 2])[:, None]
    np.testing.assert_allclose(plot.library_size_log(X / X.sum(1, keepdims=True)),
                               plot.library_size_log(deeper / deeper.sum(1, keepdims=True)))
    Z = plot.library_size_log(deeper)
    totals = np.expm1(Z).sum(axis=1)
    np.testing.assert_allclose(totals, totals[0])  # every sample scaled to the same (median) total


def test_heatmap_has_a_dendrogram_and_says_what_it_shows(tmp_path, figures):
    rng = np.random.default_rng(1)
    programmes = rng.gamma(2.0, size=(80, 3)) @ (rng.random((3, 30)) < 0.3)
    counts = rng.poisson(programmes * rng.uniform(1, 20, size=(80, 1)) + 0.5)
    out = plot.plot_gene_modules(counts, tmp_path / "heat.png", title="toy.csv")
    assert out.read_bytes().startswith(PNG)
    fig = figures[0]
    tree, heat = fig.axes[0], fig.axes[1]
    assert len(tree.collections) >= 1  # the dendrogram's links
    assert "median library size" in tree.get_title() and "toy.csv" in tree.get_title()
    plot.plot_gene_modules(np.log1p(counts) - 1.0, tmp_path / "neg.png")  # negative values: used as given
    assert "values as given" in figures[1].axes[0].get_title()


def test_training_curves_have_a_y_label(tmp_path, figures):
    folder = tmp_path / "training"
    folder.mkdir()
    (folder / "mlp_r0_d10.json").write_text(json.dumps({"method": "mlp", "repeat": 0, "n_measurements": 10,
                                                         "train": [1.0, 0.5], "val": [1.1, 0.6]}))
    assert plot.plot_training_curves(folder, tmp_path / "training.png").read_bytes().startswith(PNG)
    assert figures[0].axes[0].get_ylabel().startswith("loss")
