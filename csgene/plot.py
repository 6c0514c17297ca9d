"""Figures: accuracy against the number of measurements (the seed's Figures 1 and 2) and a
clustered gene–gene correlation heatmap showing a data set's modular structure."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ._atomic import atomic_path
from .results import summarize

PLOTTED_METRICS = ("pearson_sample", "pearson_sample_centered", "distance_corr", "pearson_gene")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save_atomic(fig, path: Path) -> None:
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=120, bbox_inches="tight", format="png")


def plot_results(rows: list[dict], out_dir, metrics=PLOTTED_METRICS) -> list[Path]:
    """Draw one PNG per metric: mean ± sd over repeats against d, one line per method.

    Parameters
    ----------
    rows : list of dict
        Rows of results.csv (:func:`csgene.results.read_results`).
    out_dir : path
        Directory for ``<metric>.png``.

    Returns
    -------
    list of Path
    """

    plt = _pyplot()
    out_dir = Path(out_dir)
    summary = summarize(rows)
    written = []
    for metric in metrics:
        fig, ax = plt.subplots(figsize=(6.4, 4.4))
        drawn = 0
        for method in dict.fromkeys(s["method"] for s in summary):
            points = sorted(
                (s["n_measurements"], s[f"{metric}_mean"], s[f"{metric}_sd"])
                for s in summary
                if s["method"] == method and not np.isnan(s[f"{metric}_mean"])
            )
            if not points:
                continue
            d, mean, sd = (np.array(v, dtype=float) for v in zip(*points))
            style = {"linestyle": "--", "color": "grey"} if method in ("mean", "measurement-space") else {}
            ax.errorbar(d, mean, yerr=np.nan_to_num(sd), marker="o", capsize=3, label=method, **style)
            drawn += 1
        if not drawn:
            plt.close(fig)
            continue
        ax.set_xlabel("number of composite measurements d")
        ax.set_ylabel(metric.replace("_", " "))
        ax.set_title(f"{metric} against measurements (mean ± sd over repeats)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, ncol=2)
        path = out_dir / f"{metric}.png"
        _save_atomic(fig, path)
        plt.close(fig)
        written.append(path)
    return written


def plot_training_curves(history_dir, path) -> Path | None:
    """Draw the training curves the runner saved (``training/*.json``), one panel per method.

    Each panel shows, for the first repeat at every d (one curve for models trained once for all
    d), the training loss (solid) and the validation loss (dashed); for the GAN, the critic loss
    and the critic's Wasserstein estimate on the validation split. Returns the PNG path, or None when there is nothing to draw.
    """
    import json

    history_dir, path = Path(history_dir), Path(path)
    curves: dict[str, list[dict]] = {}
    for file in sorted(history_dir.glob("*.json")) if history_dir.is_dir() else []:
        with open(file) as fh:
            entry = json.load(fh)
        if entry.get("repeat") == 0 and entry.get("train"):
            curves.setdefault(entry["method"], []).append(entry)
    if not curves:
        return None
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(curves), figsize=(4.2 * len(curves), 3.6), squeeze=False)
    for ax, (method, entries) in zip(axes[0], curves.items()):
        for entry in sorted(entries, key=lambda e: e.get("n_measurements") or 0):
            d = entry.get("n_measurements")
            line, = ax.plot(entry["train"], label="all d" if d is None else f"d={d}")
            if entry.get("val"):
                ax.plot(entry["val"], linestyle="--", color=line.get_color())
        is_gan = "generator_loss" in entries[0]
        ax.set_title(f"{method}: " + ("critic loss, W estimate (val, dashed)" if is_gan
                                      else "train, validation (dashed)"), fontsize=9)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    _save_atomic(fig, path)
    plt.close(fig)
    return path


def plot_gene_modules(X, path, *, max_genes: int = 300, random_state: int = 0) -> Path:
    """Clustered gene–gene correlation heatmap of a data matrix (n_samples, n_genes).

    Genes are subsampled to ``max_genes`` (the most variable ones), correlations computed
    across samples, and genes ordered by average-linkage hierarchical clustering on 1 − r.
    """
    from scipy.cluster.hierarchy import leaves_list, linkage
    from scipy.spatial.distance import squareform

    plt = _pyplot()
    X = np.asarray(X, dtype=np.float64)
    variance = X.var(axis=0)
    keep = np.argsort(variance)[::-1][: min(max_genes, int((variance > 0).sum()))]
    if keep.size < 2:
        from .exceptions import InputError

        raise InputError("need at least two genes that vary across samples to draw a gene heatmap.")
    corr = np.corrcoef(X[:, keep], rowvar=False)
    dist = np.clip(1.0 - corr, 0.0, 2.0)
    np.fill_diagonal(dist, 0.0)
    order = leaves_list(linkage(squareform(dist, checks=False), method="average"))
    fig, ax = plt.subplots(figsize=(6, 5))
    image = ax.imshow(corr[np.ix_(order, order)], cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest")
    fig.colorbar(image, ax=ax, label="Pearson r across samples")
    ax.set_title(f"gene–gene correlation, {keep.size} most variable genes, clustered")
    ax.set_xticks([])
    ax.set_yticks([])
    path = Path(path)
    _save_atomic(fig, path)
    plt.close(fig)
    return path
