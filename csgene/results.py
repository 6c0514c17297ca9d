"""The experiment's results: the columns of results.csv and summary.csv, reading and writing
them (atomically), the summary over repeats and the paper-style tables.

Both the runner (:mod:`csgene.experiment`) and the plots (:mod:`csgene.plot`) read from here.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from ._atomic import atomic_open
from .methods import METHODS

METRIC_COLUMNS = (
    "pearson_sample",
    "pearson_sample_centered",
    "distance_corr",
    "pearson_gene",
    "spearman_sample",
    "spearman_gene",
)
RESULT_COLUMNS = (
    "method",
    "n_measurements",
    "repeat",
    *METRIC_COLUMNS,
    "fit_seconds",
    "recover_seconds",
    "n_train",
    "n_test",
    "n_genes",
    "error",
)
MEASUREMENT_SPACE = "measurement-space"


# --------------------------------------------------------------------------- results file


def read_results(path: Path) -> list[dict]:
    """Rows of a results.csv as dicts (numbers parsed), or [] when absent."""
    if not path.exists():
        return []
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        for key, value in row.items():
            if key in ("method", "error"):
                continue
            row[key] = float(value) if value not in ("", None) else float("nan")
        row["n_measurements"] = int(row["n_measurements"])
        row["repeat"] = int(row["repeat"])
    return rows


def write_csv_atomic(path: Path, rows: list[dict], columns) -> None:
    """Write rows to ``path`` through a temporary file and an atomic rename."""
    with atomic_open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(columns), extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _fmt(row.get(k)) for k in columns})


def write_json_atomic(path: Path, obj) -> None:
    with atomic_open(path, "w") as fh:
        json.dump(obj, fh, indent=2, default=str)


def _fmt(value):
    if value is None:
        return ""
    if isinstance(value, float):
        return "" if np.isnan(value) else f"{value:.6g}"
    return value


# --------------------------------------------------------------------------- summary


SUMMARY_COLUMNS = ("method", "n_measurements", "n_repeats") + tuple(
    f"{m}_{s}" for m in METRIC_COLUMNS + ("fit_seconds", "recover_seconds") for s in ("mean", "sd")
)


def summarize(rows: list[dict]) -> list[dict]:
    """Mean and sample standard deviation over repeats per (method, n_measurements)."""
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault((row["method"], int(row["n_measurements"])), []).append(row)
    order = {m: i for i, m in enumerate(METHODS + (MEASUREMENT_SPACE,))}
    out = []
    for (method, d), group in sorted(groups.items(), key=lambda kv: (order.get(kv[0][0], 99), kv[0][0], kv[0][1])):
        entry = {"method": method, "n_measurements": d, "n_repeats": len(group)}
        for metric in METRIC_COLUMNS + ("fit_seconds", "recover_seconds"):
            values = np.array([_as_float(r.get(metric)) for r in group], dtype=float)
            values = values[~np.isnan(values)]
            entry[f"{metric}_mean"] = float(values.mean()) if values.size else float("nan")
            entry[f"{metric}_sd"] = float(values.std(ddof=1)) if values.size > 1 else float("nan")
        out.append(entry)
    return out


def _as_float(value) -> float:
    if value is None or value == "":
        return float("nan")
    return float(value)


def format_table(summary: list[dict], metric: str = "pearson_sample") -> str:
    """A table like the seed paper's Tables 2 and 3: methods × d, cells mean ± sd."""
    ds = sorted({int(s["n_measurements"]) for s in summary})
    methods = list(dict.fromkeys(s["method"] for s in summary))
    cells = {(s["method"], int(s["n_measurements"])): s for s in summary}
    header = ["method"] + [f"d={d}" for d in ds]
    lines = []
    for method in methods:
        line = [method]
        for d in ds:
            s = cells.get((method, d))
            mean = s.get(f"{metric}_mean", float("nan")) if s else float("nan")
            sd = s.get(f"{metric}_sd", float("nan")) if s else float("nan")
            if np.isnan(mean):
                line.append("-")
            elif np.isnan(sd):
                line.append(f"{mean:.3f}")
            else:
                line.append(f"{mean:.3f} ± {sd:.3f}")
        if any(c != "-" for c in line[1:]):
            lines.append(line)
    widths = [max(len(str(r[i])) for r in [header] + lines) for i in range(len(header))]
    fmt = lambda r: "  ".join(str(c).ljust(w) for c, w in zip(r, widths))  # noqa: E731
    rule = "-" * len(fmt(header))
    return "\n".join([f"{metric} (mean ± sd over repeats)", rule, fmt(header), rule] + [fmt(r) for r in lines])
