"""Learned designs under noises they were not learned for, and the all-genes ceiling (issue 16).

usage: python benchmarks/design_robustness.py DATA [DATA ...] [--repeats 3] [--measurements 20,50,100]

For each data file and repeat: a random 80/20 split, log1p, designs learned at SNR 2 from the
training split (``learned``, ``learned-pools``) beside the random designs of their kind
(``nonnegative`` and ``gaussian`` for mixtures, ``binary-pools`` for pools). Test samples are
measured under:

- ``snr1``, ``snr2``, ``snr5``: profile noise at SNR 1, 2, 5 (the design stays the SNR-2 one);
- ``meas2``: SNR 2 profile noise plus noise on the measurements at SNR 2 (``measurement_snr``);
- ``pipette``: SNR 2 profile noise plus 10% pipetting error on every weight (``design_noise=0.1``);

and decoded by the ``gaussian`` baseline told the profile SNR (it does not model the other two
noises). The ceiling is every gene observed under the same profile noise (the identity design).
Prints a markdown table of pearson_sample_centered, mean ± sd over repeats.
"""
from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from csgene import io
from csgene.baselines import GaussianPrior
from csgene.design import DesignPrior, make_design
from csgene.measure import measure
from csgene.metrics import evaluate
from csgene.preprocess import make_preprocessor

DESIGNS = ("gaussian", "nonnegative", "learned", "binary-pools", "learned-pools")
CONDITIONS = {
    "snr1": dict(snr=1.0),
    "snr2": dict(snr=2.0),
    "snr5": dict(snr=5.0),
    "meas2": dict(snr=2.0, measurement_snr=2.0),
    "pipette": dict(snr=2.0, design_noise=0.1),
}


def run(path: str, repeats: int, measurements: list[int], designs=DESIGNS) -> list[dict]:
    X_all = np.asarray(io.read(path).X, dtype=np.float64)
    rows = []
    for repeat in range(repeats):
        rng = np.random.default_rng(repeat)
        order = rng.permutation(X_all.shape[0])
        n_test = int(round(0.2 * X_all.shape[0]))
        prep = make_preprocessor("log1p")
        X_train = prep.fit_transform(X_all[order[n_test:]])
        X_test = prep.transform(X_all[order[:n_test]])
        mean_profile = X_train.mean(axis=0)
        decoder = GaussianPrior(random_state=0).fit(X_train)
        prior = DesignPrior.fit(X_train, 2.0, random_state=repeat)

        def score(A, condition, seed):
            options = CONDITIONS[condition]
            Y = measure(X_test, A, random_state=seed, **options)
            decoder.fit_design(A, snr=options["snr"])
            return evaluate(X_test, decoder.recover(Y), mean_profile=mean_profile)["pearson_sample_centered"]

        for condition in ("snr1", "snr2", "snr5"):
            ceiling = score(np.eye(X_train.shape[1]), condition, 1000 + repeat)
            rows.append(dict(data=Path(path).name, repeat=repeat, design="all genes (ceiling)", d=0,
                             condition=condition, centered=ceiling))
        for d in measurements:
            for kind in designs:
                start = time.perf_counter()
                A = make_design(kind, d, X_train.shape[1], random_state=100 * repeat + d, X_train=X_train,
                                snr=2.0, prior=prior if kind.startswith("learned") else None)
                seconds = time.perf_counter() - start
                for condition in CONDITIONS:
                    rows.append(dict(data=Path(path).name, repeat=repeat, design=kind, d=d, condition=condition,
                                     centered=score(A, condition, 10_000 * repeat + d), learn_seconds=seconds,
                                     recovered_fraction=prior.recovered_fraction(A)))
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", nargs="+")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--measurements", default="20,50,100")
    parser.add_argument("--designs", default=",".join(DESIGNS), help="comma list of designs")
    parser.add_argument("--csv", help="also write every row here")
    args = parser.parse_args()
    warnings.simplefilter("ignore", UserWarning)
    measurements = [int(d) for d in args.measurements.split(",")]
    rows = [row for path in args.data for row in run(path, args.repeats, measurements, args.designs.split(","))]
    frame = pd.DataFrame(rows)
    if args.csv:
        frame.to_csv(args.csv, index=False)
    for data, part in frame.groupby("data", sort=False):
        grouped = part.groupby(["design", "d", "condition"], sort=False).centered
        cell = (grouped.mean().map("{:.3f}".format) + " ± " + grouped.std().map("{:.3f}".format)).unstack()
        print(f"\n{data}: pearson_sample_centered (gaussian decoder), designs learned at SNR 2\n")
        print("| design | d | " + " | ".join(CONDITIONS) + " |")
        print("|---|---|" + "---|" * len(CONDITIONS))
        for (design, d), values in cell.iterrows():
            print(f"| {design} | {d or 'all'} | " + " | ".join(str(values.get(c, "")) for c in CONDITIONS) + " |")


if __name__ == "__main__":
    main()
