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


#: How each method is drawn: (family, colour, marker). Baselines are one family drawn alike (dashed,
#: shades of grey, each its own marker); every other method has a colour of its own, so no two
#: methods share a colour. Methods not listed get the next colour of :data:`SPARE_COLOURS`.
METHOD_STYLES = {
    "mean": ("baseline", "#222222", "s"),
    "ridge": ("baseline", "#5a5a5a", "^"),
    "gaussian": ("baseline", "#8c8c8c", "v"),
    "measurement-space": ("baseline", "#b4b4b4", "D"),
    "svd": ("dictionary", "#1f77b4", "o"),
    "topk-svd": ("dictionary", "#17becf", "o"),
    "ksvd": ("dictionary", "#2ca02c", "o"),
    "snmf": ("dictionary", "#9467bd", "o"),
    "smaf": ("dictionary", "#d62728", "o"),
    "smaf-centered": ("dictionary", "#ff7f0e", "o"),
    "mlp": ("neural", "#8c564b", "*"),
    "smaf+mlp": ("neural", "#e377c2", "*"),
    "vae": ("neural", "#bcbd22", "*"),
    "gan": ("neural", "#006d2c", "*"),
    "smaf-reference": ("reference", "#7f0000", "x"),
    "snmf-reference": ("reference", "#3f007d", "x"),
}
SPARE_COLOURS = ("#e6ab02", "#66a61e", "#a6761d", "#1b9e77", "#7570b3", "#e7298a")
#: line style of each family
FAMILY_LINES = {"baseline": "--", "dictionary": "-", "neural": "-.", "reference": ":"}
BASELINE_FAMILY = "baseline"


def method_style(method: str, spare: dict | None = None) -> dict:
    """Matplotlib keyword arguments (colour, marker, line style) of a method, the same in every plot."""
    if method in METHOD_STYLES:
        family, colour, marker = METHOD_STYLES[method]
    else:
        spare = {} if spare is None else spare
        colour = spare.setdefault(method, SPARE_COLOURS[len(spare) % len(SPARE_COLOURS)])
        family, marker = "other", "P"
    return {"color": colour, "marker": marker, "linestyle": FAMILY_LINES.get(family, "-"),
            "markerfacecolor": "white" if family == BASELINE_FAMILY else colour}


def is_baseline(method: str) -> bool:
    return METHOD_STYLES.get(method, ("other",))[0] == BASELINE_FAMILY


def run_description(rows: list[dict], run_info: dict | None) -> str:
    """One line for titles: dataset (with its size), preprocessing, design, SNR, test samples and repeats."""
    config = (run_info or {}).get("config", {})
    data = (run_info or {}).get("data", {})
    parts = []
    if run_info is not None:
        source = config.get("data")
        name = Path(source).name if source else "synthetic data"
        size = f" ({data['n_samples']} samples × {data['n_genes']} genes)" if "n_samples" in data else ""
        parts.append(f"{name}{size}")
        selection = data.get("selection") or {}
        parts.extend(f"{key.replace('_', ' ')} {value}" for key, value in selection.items())
        parts.append(f"preprocess {config.get('preprocess', '?')}")
        parts.append(f"{config.get('design', 'gaussian')} design")
        snr = config.get("snr")
        parts.append("no noise" if snr in ("inf", float("inf")) else f"SNR {snr}")
    n_test = sorted({int(r["n_test"]) for r in rows if not np.isnan(_number(r.get("n_test")))})
    if n_test:
        parts.append("n_test " + "/".join(map(str, n_test)))
    repeats = sorted({int(r["repeat"]) for r in rows})
    parts.append(f"mean ± sd over {len(repeats)} repeat{'s' if len(repeats) != 1 else ''}")
    return " · ".join(parts)


def _number(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def _read_run_info(out_dir: Path) -> dict | None:
    import json

    try:
        return json.loads((out_dir / "run.json").read_text())
    except (OSError, ValueError):
        return None


def plot_results(rows: list[dict], out_dir, metrics=PLOTTED_METRICS, run_info: dict | None = None) -> list[Path]:
    """Draw one PNG per metric: mean ± sd over repeats against d, one line per method.

    Each figure has two panels. Left: the metric itself. Right: each non-baseline method minus
    the best baseline at the same d (the one of ``mean``, ``ridge``, ``gaussian``,
    ``measurement-space`` with the largest mean), paired by repeat (the same split, design and
    noise) and shown as mean ± sd of those differences; it spreads apart methods that lie within
    a few hundredths of each other on the left. Baselines are dashed grey lines with their own markers; every other
    method has its own colour (:data:`METHOD_STYLES`); the legend sits outside the panels; the
    title names the data set, preprocessing, SNR and test size (from ``run.json``).

    Parameters
    ----------
    rows : list of dict
        Rows of results.csv (:func:`csgene.results.read_results`).
    out_dir : path
        Directory for ``<metric>.png``.
    metrics : sequence of str
        Columns to draw.
    run_info : dict, optional
        The run's ``run.json``; read from ``out_dir`` when not given.

    Returns
    -------
    list of Path
    """

    plt = _pyplot()
    out_dir = Path(out_dir)
    run_info = _read_run_info(out_dir) if run_info is None else run_info
    summary = summarize(rows)
    description = run_description(rows, run_info)
    written = []
    for metric in metrics:
        curves = _curves(summary, metric)
        if not curves:
            continue
        fig = _draw_metric(plt, curves, *_paired_deltas(rows, curves, metric), metric, description)
        path = out_dir / f"{metric}.png"
        _save_atomic(fig, path)
        plt.close(fig)
        written.append(path)
    return written


def _curves(summary: list[dict], metric: str) -> dict:
    """{method: (d, mean, sd)} of the methods with a value of ``metric``, in the summary's order."""
    curves = {}
    for method in dict.fromkeys(s["method"] for s in summary):
        points = sorted(
            (s["n_measurements"], s[f"{metric}_mean"], s[f"{metric}_sd"])
            for s in summary
            if s["method"] == method and not np.isnan(s[f"{metric}_mean"])
        )
        if points:
            curves[method] = tuple(np.array(v, dtype=float) for v in zip(*points))
    return curves


def _paired_deltas(rows: list[dict], curves: dict, metric: str):
    """Each non-baseline method minus the best baseline at each d, paired by repeat (same split).

    The best baseline at a d is the baseline with the largest mean there. Returns
    ``({method: (d, mean, sd)}, {d: best baseline})``, or ``({}, {})`` without baselines.
    """
    baselines = [m for m in curves if is_baseline(m)]
    if not baselines:
        return {}, {}
    best = {}
    for method in baselines:
        for d, mean in zip(curves[method][0], curves[method][1]):
            if d not in best or mean > best[d][1]:
                best[d] = (method, mean)
    value = {(r["method"], int(r["n_measurements"]), int(r["repeat"])): _number(r.get(metric)) for r in rows}
    deltas = {}
    for method in (m for m in curves if not is_baseline(m)):
        points = []
        for d in curves[method][0]:
            if d not in best:
                continue
            diffs = np.array([v - value.get((best[d][0], int(d), rep), np.nan)
                              for (m, dd, rep), v in value.items() if m == method and dd == int(d)])
            diffs = diffs[~np.isnan(diffs)]
            if diffs.size:
                points.append((d, diffs.mean(), diffs.std(ddof=1) if diffs.size > 1 else np.nan))
        if points:
            deltas[method] = tuple(np.array(v, dtype=float) for v in zip(*points))
    return deltas, {d: method for d, (method, _) in best.items()}


def _draw_metric(plt, curves: dict, deltas: dict, best: dict, metric: str, description: str):
    two_panels = bool(deltas)
    fig, axes = plt.subplots(1, 2 if two_panels else 1, figsize=(11.5 if two_panels else 6.4, 4.6), squeeze=False)
    axes = axes[0]
    ds = sorted({float(x) for d, _, _ in curves.values() for x in d})
    spare: dict = {}
    n = len(curves)
    for i, (method, (d, mean, sd)) in enumerate(curves.items()):
        shift = 1 + 0.025 * (i - (n - 1) / 2)  # spread error bars of one d apart (log axis)
        style = method_style(method, spare)
        axes[0].errorbar(d * shift, mean, yerr=np.nan_to_num(sd), capsize=3, label=method, markersize=6,
                         linewidth=1.6, **style)
        if method in deltas:
            dd, delta, delta_sd = deltas[method]
            axes[1].errorbar(dd * shift, delta, yerr=np.nan_to_num(delta_sd), capsize=3, markersize=6,
                             linewidth=1.6, **style)
    label = metric.replace("_", " ")
    axes[0].set_ylabel(label)
    axes[0].set_title(label, fontsize=10)
    if two_panels:
        axes[1].axhline(0.0, color="#222222", linestyle="--", linewidth=1.2)
        for d, name in best.items():  # which baseline is the zero line, along the bottom of the panel
            axes[1].annotate(name, (d, 0.0), xycoords=("data", "axes fraction"), textcoords="offset points",
                             xytext=(0, 3), ha="center", va="bottom", fontsize=8, color="#222222",
                             bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none",
                                   "alpha": 0.8})
        axes[1].set_ylabel("method − best baseline")
        axes[1].set_title(f"{label}: difference to the best baseline at each d\n"
                          f"(dashed line = best baseline, named along the bottom; paired by repeat)", fontsize=10)
    for ax in axes:
        ax.set_xscale("log")
        ax.set_xticks(ds)
        ax.set_xticklabels([f"{d:g}" for d in ds])
        ax.minorticks_off()
        ax.set_xlabel("number of composite measurements d")
        ax.grid(alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    order = sorted(range(len(labels)), key=lambda i: not is_baseline(labels[i]))  # baselines first
    handles, labels = [handles[i] for i in order], [labels[i] for i in order]
    fig.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=9, frameon=False,
               title="method (dashed grey: baselines)", title_fontsize=9)
    fig.suptitle(f"{label} against the number of measurements\n{description}", fontsize=11)
    fig.tight_layout()
    return fig


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
        ax.set_ylabel("critic loss; Wasserstein estimate" if is_gan else "loss (mean over the epoch)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    _save_atomic(fig, path)
    plt.close(fig)
    return path


def library_size_log(X) -> np.ndarray:
    """``log1p`` of counts scaled to the median library size (each sample's total), as (n_samples, n_genes).

    Samples with no counts stay at 0. Without this a gene–gene correlation of raw counts mostly
    shows sequencing depth: every gene rises and falls with its sample's total.
    """
    X = np.asarray(X, dtype=np.float64)
    totals = X.sum(axis=1)
    target = float(np.median(totals[totals > 0])) if (totals > 0).any() else 1.0
    factor = np.divide(target, totals, out=np.zeros_like(totals), where=totals > 0)
    return np.log1p(X * factor[:, None])


def plot_gene_modules(X, path, *, max_genes: int = 300, random_state: int = 0, normalize: bool = True,
                      title: str | None = None) -> Path:
    """Clustered gene–gene correlation heatmap of a data matrix (n_samples, n_genes), with its dendrogram.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_genes)
        Counts (or other values; see ``normalize``).
    path : path
        PNG file written.
    max_genes : int
        The most variable genes (after normalisation) kept.
    random_state : int
        Unused; kept for compatibility.
    normalize : bool
        Nonnegative data are scaled to the median library size and ``log1p``-transformed first
        (:func:`library_size_log`); data with negative values, or ``normalize=False``, are used
        as given.
    title : str, optional
        Second title line (e.g. the data file's name).

    Returns
    -------
    Path

    Notes
    -----
    Correlations are Pearson across samples; genes are ordered by average-linkage hierarchical
    clustering on 1 − r, whose dendrogram is drawn above the heatmap.
    """
    from scipy.cluster.hierarchy import dendrogram, linkage
    from scipy.spatial.distance import squareform

    plt = _pyplot()
    X = np.asarray(X, dtype=np.float64)
    normalised = normalize and X.size and X.min() >= 0
    if normalised:
        X = library_size_log(X)
    variance = X.var(axis=0)
    keep = np.argsort(variance)[::-1][: min(max_genes, int((variance > 0).sum()))]
    if keep.size < 2:
        from .exceptions import InputError

        raise InputError("need at least two genes that vary across samples to draw a gene heatmap.")
    corr = np.corrcoef(X[:, keep], rowvar=False)
    dist = np.clip(1.0 - corr, 0.0, 2.0)
    np.fill_diagonal(dist, 0.0)
    tree = linkage(squareform(dist, checks=False), method="average")
    fig = plt.figure(figsize=(6.6, 7.0))
    grid = fig.add_gridspec(2, 2, height_ratios=(1, 4.2), width_ratios=(30, 1), hspace=0.03, wspace=0.04)
    ax_tree, ax_heat, ax_bar = fig.add_subplot(grid[0, 0]), fig.add_subplot(grid[1, 0]), fig.add_subplot(grid[1, 1])
    order = dendrogram(tree, ax=ax_tree, no_labels=True, color_threshold=0.0, above_threshold_color="#444444",
                       link_color_func=lambda _: "#444444")["leaves"]
    ax_tree.set_xticks([])
    ax_tree.set_ylabel("1 − r", fontsize=9)
    for side in ("top", "right", "bottom"):
        ax_tree.spines[side].set_visible(False)
    image = ax_heat.imshow(corr[np.ix_(order, order)], cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest",
                           aspect="auto")
    fig.colorbar(image, cax=ax_bar, label="Pearson r across samples")
    ax_heat.set_xticks([])
    ax_heat.set_yticks([])
    ax_heat.set_xlabel(f"{keep.size} most variable genes, in dendrogram order")
    values = "log1p of counts scaled to the median library size" if normalised else "values as given"
    heading = f"gene–gene correlation of {X.shape[0]} samples ({values})"
    ax_tree.set_title(heading + (f"\n{title}" if title else ""), fontsize=10)
    path = Path(path)
    _save_atomic(fig, path)
    plt.close(fig)
    return path
