"""Markdown tables comparing designs: one `csgene run` folder per design, the same data and methods.

usage: python benchmarks/design_tables.py [--metrics pearson_sample_centered,pearson_gene] RUN_DIR [RUN_DIR ...]

Rows are (design, method), columns are d, cells mean ± sd over repeats; the design is read from each
folder's run.json. Folders of different data files get separate tables, and after each table the
winning design per method and d is named (ties within 0.005 are named together).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd


def load(folder: Path) -> pd.DataFrame:
    config = json.loads((folder / "run.json").read_text())["config"]
    frame = pd.read_csv(folder / "results.csv")
    frame = frame[(frame.method != "measurement-space") & (frame.method != "mean") & frame.pearson_sample.notna()]
    return frame.assign(design=config["design"], data=Path(config["data"] or "synthetic").name)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", nargs="+", type=Path)
    parser.add_argument("--metrics", default="pearson_sample_centered,pearson_gene")
    args = parser.parse_args()
    frame = pd.concat([load(f) for f in args.folders if (f / "results.csv").exists()], ignore_index=True)
    for data, part in frame.groupby("data", sort=False):
        for metric in args.metrics.split(","):
            grouped = part.groupby(["method", "design", "n_measurements"], sort=False)[metric]
            mean, sd = grouped.mean().unstack(), grouped.std().unstack()
            ds = sorted(mean.columns)
            print(f"\n{data}, {metric} (mean ± sd over repeats)\n")
            print("| method | design | " + " | ".join(f"d={d}" for d in ds) + " |")
            print("|---|---|" + "---|" * len(ds))
            for (method, design) in mean.index:
                cells = [f"{mean.loc[(method, design), d]:.3f} ± {sd.loc[(method, design), d]:.3f}"
                         if pd.notna(mean.loc[(method, design), d]) else "" for d in ds]
                print(f"| {method} | {design} | " + " | ".join(cells) + " |")
            print()
            for method in mean.index.get_level_values(0).unique():
                wins = []
                for d in ds:
                    column = mean.loc[method][d].dropna()
                    if column.empty:
                        continue
                    best = column.max()
                    wins.append(f"d={d}: " + " = ".join(column[column >= best - 0.005].index))
                print(f"- {method}: best design " + "; ".join(wins))


if __name__ == "__main__":
    main()
