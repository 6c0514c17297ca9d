"""Markdown tables of `csgene run` folders: every metric at every d, mean ± sd over repeats.

usage: python benchmarks/accuracy_tables.py RUN_DIR [RUN_DIR ...]
Prints, per folder, one table per metric (methods as rows, d as columns), the mean profile's
pearson_sample for reference, and which dictionary methods fall below it at d >= 50.
"""
import json
import sys
from pathlib import Path

import pandas as pd

METRICS = ("pearson_sample", "pearson_sample_centered", "distance_corr", "pearson_gene")
DICTIONARY = ("svd", "topk-svd", "ksvd", "snmf", "smaf", "smaf-centered")


def table(frame: pd.DataFrame, metric: str) -> str:
    grouped = frame.groupby(["method", "n_measurements"])[metric]
    mean, sd = grouped.mean().unstack(), grouped.std().unstack()
    ds = list(mean.columns)
    lines = [f"| method | " + " | ".join(f"d={d}" for d in ds) + " |", "|---|" + "---|" * len(ds)]
    order = [m for m in frame["method"].drop_duplicates()]
    for method in order:
        cells = [f"{mean.loc[method, d]:.3f} ± {sd.loc[method, d]:.3f}" for d in ds]
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(folders):
    for folder in map(Path, folders):
        frame = pd.read_csv(folder / "results.csv")
        frame = frame[(frame.method != "measurement-space") & frame.pearson_sample.notna()]
        config = json.loads((folder / "run.json").read_text())["config"]
        print(f"\n#### {Path(config['data']).name}, {config['preprocess']}, {config['repeats']} repeats\n")
        for metric in METRICS:
            print(f"{metric}:\n\n{table(frame, metric)}\n")
        means = frame.groupby(["method", "n_measurements"]).pearson_sample.mean().unstack()
        if "mean" in means.index:
            below = [(m, d) for m in DICTIONARY if m in means.index for d in means.columns
                     if d >= 50 and means.loc[m, d] < means.loc["mean", d]]
            print(f"Dictionary methods below the mean profile at d >= 50: {below or 'none'}\n")


if __name__ == "__main__":
    main(sys.argv[1:])
