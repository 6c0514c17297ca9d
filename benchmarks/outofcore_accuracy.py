"""Accuracy of out-of-core fits against in-memory fits, float64 and float32 (issue 17; manual).

On a synthetic file (``make_expression``, default 3,000 training + 500 held-out samples x 2,000
genes, where every fit also fits in memory), fits each method in memory and out of core (float64
and float32), then recovers the held-out samples from noisy measurements (d = 100, SNR 2) and
prints the mean per-sample Pearson correlation (log1p space) of each fit, and the largest
difference between in-memory and out-of-core recoveries.

    python benchmarks/outofcore_accuracy.py [--samples 3000 --genes 2000]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from csgene.datasets import make_expression  # noqa: E402
from csgene.metrics import pearson_sample  # noqa: E402
from csgene.outofcore import fit_file  # noqa: E402
from csgene.pipeline import CompressedSensing  # noqa: E402
from test_scale import write_gen2  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=3000)
    parser.add_argument("--test", type=int, default=500)
    parser.add_argument("--genes", type=int, default=2000)
    parser.add_argument("--methods", nargs="+", default=["svd", "gaussian", "smaf"])
    args = parser.parse_args(argv)
    d = make_expression(n_samples=args.samples + args.test, n_genes=args.genes, n_modules=100, random_state=0)
    train, test = d.counts[: args.samples], d.counts[args.samples:]
    common = dict(n_measurements=100, random_state=0)
    with tempfile.TemporaryDirectory() as folder:
        path = write_gen2(Path(folder) / "train.h5", train, d.gene_names, [f"s{i}" for i in range(args.samples)],
                          chunk_samples=256)
        for method in args.methods:
            fits = {}
            started = time.perf_counter()
            fits["in memory"] = CompressedSensing(method, **common).fit(train.astype(np.float64))
            seconds = {"in memory": time.perf_counter() - started}
            if method == "gaussian":
                started = time.perf_counter()
                fits["in memory, estimator=pca"] = CompressedSensing(
                    method, method_options={"estimator": "pca"}, **common).fit(train.astype(np.float64))
                seconds["in memory, estimator=pca"] = time.perf_counter() - started
            for dtype in ("float64", "float32"):
                started = time.perf_counter()
                fits[f"out of core {dtype}"] = fit_file(path, method=method, dtype=dtype, block_size=512,
                                                        progress=False, **common)
                seconds[f"out of core {dtype}"] = time.perf_counter() - started
            reference = fits["in memory"]
            Y = reference.measure(test, snr=2, random_state=1)
            truth = np.log1p(test)
            recovered = {name: model.recover(Y, space="preprocessed") for name, model in fits.items()}
            for name, X_hat in recovered.items():
                print(json.dumps({"method": method, "fit": name, "seconds": round(seconds[name], 1),
                                  "pearson_sample": round(float(np.mean(pearson_sample(truth, X_hat))), 4),
                                  "max_abs_diff_vs_in_memory": float(np.abs(X_hat - recovered["in memory"]).max())}),
                      flush=True)


if __name__ == "__main__":
    main()
