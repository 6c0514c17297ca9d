"""Accuracy of every learner and baseline on real ARCHS4 counts, in the seed protocol.

Protocol (the learners issue): ../shared/data/archs4_slice_a.h5 (500 samples × 1,000 genes),
80/20 split, k = 15, SNR = 2, 150 modules, d ∈ {20, 50, 100, 200, 300}, 3 repeats, in three
spaces: "clip99" (clip at the matrix's 99th percentile, no log, as Cleary et al.'s code),
"log1p", and the seed's per-gene [0, 1] scaling ("minmax"). Prints one table per space and
metric next to the reference figures measured with Cleary et al.'s own code (SPAMS).

Not a test: run ``python benchmarks/accuracy.py [--data PATH] [--out DIR] [--methods ...]``.
Results are resumable (one ``csgene run`` directory per space under ``--out``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from csgene.experiment import ExperimentConfig, run_experiment
from csgene.results import format_table, summarize

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "archs4_slice_a.h5"
SPACES = ("clip99", "log1p", "minmax")
METRICS = ("pearson_sample", "pearson_sample_centered", "distance_corr", "pearson_gene")
METHODS = ("mean", "ridge", "gaussian", "svd", "topk-svd", "ksvd", "snmf", "smaf", "smaf-centered")

#: pearson_sample (and distance_corr where given) at d = 20/50/100/200/300, mean of 3 repeats,
#: measured on archs4_slice_a.h5 with Cleary et al.'s SPAMS code under this protocol.
REFERENCE = {
    ("clip99", "pearson_sample"): {
        "SMAF (SPAMS)": (0.737, 0.791, 0.839, 0.858, 0.867),
        "sparse NMF (SPAMS)": (0.739, 0.793, 0.841, 0.861, 0.873),
        "ridge (peer)": (0.782, 0.795, 0.799, 0.779, 0.706),
        "mean profile": (0.734,) * 5,
    },
    ("log1p", "pearson_sample"): {
        "SMAF (SPAMS)": (0.874, 0.885, 0.913, 0.922, 0.927),
        "ridge (peer)": (0.909, 0.916, 0.923, 0.929, 0.932),
        "mean profile": (0.883,) * 5,
    },
    ("clip99", "distance_corr"): {
        "SMAF (SPAMS)": (0.850, 0.901, 0.931, 0.944, 0.951),
        "SVD (SPAMS code)": (0.888, 0.947, 0.956, 0.974, 0.980),
    },
}
MEASUREMENTS = (20, 50, 100, 200, 300)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--out", default="accuracy-runs")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--spaces", default=",".join(SPACES))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--genes", type=int, default=None, help="random subset of genes (default: all)")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    references = REFERENCE if Path(args.data).name == DEFAULT_DATA.name else {}
    for space in args.spaces.split(","):
        config = ExperimentConfig(
            data=args.data, methods=args.methods.split(","), measurements=list(MEASUREMENTS),
            repeats=args.repeats, genes=args.genes, snr=2.0, seed=0, preprocess=space, sparsity=15, modules=150,
        )
        rows = run_experiment(config, Path(args.out) / space, quiet=args.quiet)
        summary = summarize(rows)
        print(f"\n=== space: {space} ===")
        for metric in METRICS:
            print(format_table(summary, metric))
            for name, values in references.get((space, metric), {}).items():
                print(f"  reference {name}: " + " / ".join(f"{v:.3f}" for v in values))
            print()


if __name__ == "__main__":
    main()
