"""Sparse NMF's solvers on real counts through the runner: ``solver="mu"`` vs ``"bcd"`` (issue 17; manual).

``csgene run`` builds each method from its name only, so this script runs
:func:`csgene.experiment.run_experiment` with the ``snmf`` method's options set here (its
``solver`` and ``l1_activities``), one output folder per setting, and prints the mean ± sd over
repeats of pearson_sample and pearson_sample_centered per method and d. The ``mean`` and
``gaussian`` baselines run with the first setting.

    python benchmarks/snmf_solvers.py --data /work/shared/data/archs4_slice_a.h5 --out /tmp/snmf_solvers \\
        --setting mu --setting bcd --setting bcd:l1_activities=1.0
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

import csgene.experiment as experiment
from csgene.methods import make_method


def parse_setting(text: str) -> dict:
    """``"bcd:l1_activities=1.0"`` → ``{"solver": "bcd", "l1_activities": 1.0}``."""
    solver, _, rest = text.partition(":")
    options = {"solver": solver}
    for item in filter(None, rest.split(",")):
        key, _, value = item.partition("=")
        options[key] = float(value)
    return options


def run_setting(args, options: dict, methods: list, out: Path) -> pd.DataFrame:
    def patched(name, **kwargs):
        return make_method(name, **kwargs, **(options if name == "snmf" else {}))

    experiment.make_method = patched
    try:
        config = experiment.ExperimentConfig(data=args.data, methods=methods, measurements=args.measurements,
                                             repeats=args.repeats, samples=args.samples, preprocess="log1p",
                                             seed=args.seed, device="cpu")
        experiment.run_experiment(config, out, quiet=True)
    finally:
        experiment.make_method = make_method
    return pd.read_csv(out / "results.csv")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--setting", action="append", default=None,
                        help="solver[:option=value,...] of the snmf learner; repeatable (default mu and bcd)")
    parser.add_argument("--measurements", type=lambda s: [int(v) for v in s.split(",")], default=[20, 50, 100])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--samples", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    settings = args.setting or ["mu", "bcd"]
    frames = []
    for i, text in enumerate(settings):
        methods = (["mean", "gaussian"] if i == 0 else []) + ["snmf"]
        out = Path(args.out) / text.replace(":", "_").replace("=", "").replace(",", "_")
        frame = run_setting(args, parse_setting(text), methods, out)
        frame.loc[frame["method"] == "snmf", "method"] = f"snmf[{text}]"
        frames.append(frame[frame["method"].isin([m if m != "snmf" else f"snmf[{text}]" for m in methods])])
    results = pd.concat(frames)
    summary = results.groupby(["method", "n_measurements"])[
        ["pearson_sample", "pearson_sample_centered", "fit_seconds"]].agg(["mean", "std"])
    pd.set_option("display.width", 200)
    print(summary.round(4).to_string())
    summary.to_csv(Path(args.out) / "summary.csv")


if __name__ == "__main__":
    main()
