"""Accuracy that more training data buys (issue 17; manual, not CI).

Fits each method out of core on synthetic full-width files of 600, 3,000 and 30,000 samples
(``benchmarks/archs4_fullsize.py``'s generator: 35,238 genes, the same planted modules in every
file) and recovers 500 held-out samples of the full-size file (samples 160,000-160,499, in no
training file) from d = 100 Gaussian measurements at SNR 2 (each decoder noise-aware at that SNR). Prints one JSON line per method and
training size: pearson_sample and pearson_sample_centered (log1p space; centred on the largest
training set's mean profile), mean and the 5th-95th percentile over the held-out samples, and the
same for the ``mean`` baseline (each training set's mean profile).

    python benchmarks/archs4_fullsize.py --generate-only --samples 600 --workdir /tmp/fs   # and 3000, 30000, 167726
    python benchmarks/training_size.py --workdir /tmp/fs [--models DIR]

``--models DIR`` reuses fitted models saved as ``DIR/<method>_<samples>.h5`` (e.g. by
``benchmarks/outofcore_fit.py --save``) instead of fitting them again.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from csgene.io import BlockReader
from csgene.outofcore import fit_file
from csgene.pipeline import CompressedSensing

SIZES = (600, 3000, 30000)
SNR = 2.0
FULL = 167_726
GENES = 35_238
HELD_OUT = (160_000, 160_500)


def summary(scores) -> dict:
    scores = np.asarray(scores)
    return {"mean": round(float(scores.mean()), 4), "p5": round(float(np.percentile(scores, 5)), 4),
            "p95": round(float(np.percentile(scores, 95)), 4)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--models", type=Path)
    parser.add_argument("--methods", nargs="+", default=["svd", "gaussian", "smaf", "snmf"])
    parser.add_argument("--sizes", nargs="+", type=int, default=list(SIZES))
    parser.add_argument("--dtype", default="float32")
    args = parser.parse_args(argv)
    with BlockReader(args.workdir / f"archs4_synthetic_{FULL}x{GENES}.h5") as reader:
        counts = reader.read(*HELD_OUT, np.float64)
    truth = np.log1p(counts)
    sizes = sorted(args.sizes, reverse=True)
    moments = {size: log1p_moments(args.workdir / f"archs4_synthetic_{size}x{GENES}.h5") for size in sizes}
    means = {size: moment[0] for size, moment in moments.items()}
    reference_mean = means[sizes[0]]
    for size in sizes:
        path = args.workdir / f"archs4_synthetic_{size}x{GENES}.h5"
        for method in args.methods:
            saved = None if args.models is None else args.models / f"{method}_{size}.h5"
            started = time.perf_counter()
            model = None
            if saved is not None and saved.exists():
                model = CompressedSensing.load(saved)
                how = f"loaded {saved.name}"
                if model.snr != SNR:  # the decoder's noise level: the last step of a fit, redone at SNR
                    model.set_params(snr=SNR)
                    # model files do not keep the training profiles' mean square, which sets the noise
                    # variance (signal power / SNR²); it is the file's, as the fit computed it
                    model.method_.signal_power_ = moments[size][1]
                    try:
                        model.method_.fit_design(model.design_, snr=SNR, random_state=0)
                        how += f", decoder refitted for SNR {SNR:g}"
                    except AttributeError:  # a saved gaussian prior keeps its decoder, not its factors
                        model = None
            if model is None:
                model = fit_file(path, method=method, n_measurements=100, n_modules=150, random_state=0, snr=SNR,
                                 dtype=args.dtype, progress=False)
                how = "fitted"
            seconds = time.perf_counter() - started
            Y = model.measure(counts, snr=SNR, random_state=1)
            X_hat = np.asarray(model.recover(Y, space="preprocessed"), dtype=np.float64)
            print(json.dumps(scores(method, size, truth, X_hat, reference_mean,
                                    model=how, seconds=round(seconds, 1))), flush=True)
        baseline = np.broadcast_to(means[size], truth.shape)
        print(json.dumps(scores("mean", size, truth, baseline, reference_mean)), flush=True)


def scores(method, size, truth, X_hat, reference_mean, **extra) -> dict:
    return {"method": method, "training_samples": size, **extra,
            "pearson_sample": summary(row_pearson(truth, X_hat)),
            "pearson_sample_centered": summary(row_pearson(truth - reference_mean, X_hat - reference_mean))}


def row_pearson(A, B) -> np.ndarray:
    """Pearson correlation of each row of A with the same row of B (0 where B's row is constant)."""
    A = A - A.mean(axis=1, keepdims=True)
    B = B - B.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(A, axis=1) * np.linalg.norm(B, axis=1)
    return np.divide(np.einsum("ij,ij->i", A, B), norms, out=np.zeros(len(A)), where=norms > 0)


def log1p_moments(path) -> tuple[np.ndarray, float]:
    """Mean log1p profile of a file and the mean square of its log1p values, read in blocks."""
    with BlockReader(path) as reader:
        total, squares = np.zeros(reader.n_genes), 0.0
        for a in range(0, reader.n_samples, 2048):
            block = np.log1p(reader.read(a, min(a + 2048, reader.n_samples), np.float64))
            total += block.sum(axis=0)
            squares += float(np.einsum("ij,ij->", block, block))
        return total / reader.n_samples, squares / (reader.n_samples * reader.n_genes)


if __name__ == "__main__":
    main()
