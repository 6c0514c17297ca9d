"""How long learning a design takes at 1,000, 20,000 and 35,238 genes (issue 16).

usage: python benchmarks/design_timing.py [--genes 1000,20000,35238] [--samples 500] [--measurements 100]

Synthetic log1p profiles (``csgene.datasets.make_expression``); the Gaussian prior is fitted once
per size (its time is reported apart), then each learned design is timed, wall clock, once.
"""
from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

from csgene.datasets import make_expression
from csgene.design import DesignPrior, make_design

KINDS = ("learned", "learned-pools", "landmarks", "best-of-random-pools")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--genes", default="1000,20000,35238")
    parser.add_argument("--samples", type=int, default=500)
    parser.add_argument("--measurements", type=int, default=100)
    parser.add_argument("--candidates", type=int, default=2000)
    args = parser.parse_args()
    warnings.simplefilter("ignore", UserWarning)
    print("| genes | prior fit | " + " | ".join(KINDS) + " |")
    print("|---|---|" + "---|" * len(KINDS))
    for n_genes in (int(g) for g in args.genes.split(",")):
        counts = make_expression(n_samples=args.samples, n_genes=n_genes, n_modules=40, random_state=0).counts
        X = np.log1p(np.asarray(counts, dtype=np.float64))
        start = time.perf_counter()
        prior = DesignPrior.fit(X, 2.0, random_state=0)
        cells = [f"{time.perf_counter() - start:.1f} s"]
        for kind in KINDS:
            options = {"n_candidates": args.candidates} if kind == "best-of-random-pools" else {}
            start = time.perf_counter()
            make_design(kind, args.measurements, random_state=0, X_train=X, snr=2.0,
                        prior=None if kind == "best-of-random-pools" else prior, **options)
            cells.append(f"{time.perf_counter() - start:.1f} s")
        print(f"| {n_genes} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
