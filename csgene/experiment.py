"""The seed paper's experiment: methods × measurement counts × repeats, resumable.

Protocol of one repeat (each repeat draws a new split, designs and noise from ``seed``):

1. Split samples into train/test (``test_fraction``, 20% by default).
2. Fit the preprocessing on the training samples; transform both.
3. Fit every method once on the training profiles (dictionaries, priors).
4. For every number of measurements d: draw a design A (d × genes), measure the test samples
   with noise at the given SNR (Cleary et al.'s definition), let every method prepare for
   the design (effective dictionary, supervised decoders) and recover the test profiles.
5. Score in the preprocessed space against the true test profiles; the centered metric uses
   the training mean profile. The row ``measurement-space`` scores the similarity of samples
   computed from the measurements alone (no recovery).

Rows are written to ``results.csv`` (its columns, reading, writing and the summary are in
:mod:`csgene.results`) as each finishes, by atomic replacement of the file, so
an interrupted run leaves a valid file and the same command resumes where it stopped.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import platform
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import __version__
from ._device import resolve_device
from ._random import check_seed
from ._validation import check_positive_int, check_snr, check_unique
from .exceptions import InputError
from .methods import METHODS, make_method
from .plot import plot_results, plot_training_curves
from .results import (
    MEASUREMENT_SPACE,
    METRIC_COLUMNS,
    RESULT_COLUMNS,
    SUMMARY_COLUMNS,
    read_results,
    summarize,
    write_csv_atomic,
    write_json_atomic,
)

log = logging.getLogger(__name__)

#: Settings that do not change results and may differ when resuming.
NON_RESULT_SETTINGS = ("quiet", "out")
#: Settings that select part of a data file (the command line's selection flags).
SELECTION_SETTINGS = ("samples_from", "genes_from", "search", "series", "layer")


@dataclass
class ExperimentConfig:
    """Every setting of a run; saved to ``run.json`` and compared when resuming.

    Parameters
    ----------
    data : str or None
        Path of any format :func:`csgene.io.read` takes; None = built-in synthetic data.
    methods : list of str
    measurements : list of int
        Numbers of composite measurements d.
    repeats : int
        Train/test splits, each with new designs and noise.
    samples, genes : int or None
        Random subsets (the seed used 10,000 samples × 500 genes of ARCHS4). For the synthetic
        data, the generated size.
    snr : float
        Signal-to-noise ratio of the noise added before measuring (inf = none).
    seed : int
    preprocess : str
        Chain of transforms for :func:`csgene.preprocess.make_preprocessor`.
    sparsity : int
        Active modules per sample (k).
    modules : int or None
        Dictionary size; None = min(1.5·n_train, 150).
    design : str
        Measurement design for :func:`csgene.design.make_design`. Designs learned from data
        (``learned``, ``learned-pools``, ``landmarks``, ``best-of-random-pools``) are learned in
        each repeat from that repeat's training split only, at ``snr``.
    design_options : dict
        Options of the design (e.g. ``{"pools_per_gene": 3}``); see :func:`csgene.design.design_options`.
    test_fraction : float
    device : {"auto", "cpu", "cuda"}
        Where kernels and torch models run; "auto" takes CUDA when a usable GPU is there. The
        device actually used is recorded in ``run.json``.
    allow_negative : bool
        Accept data with negative values (log-ratios, centred data; with ``preprocess="none"``
        or ``"minmax"``).
    samples_from, genes_from : str or None
        Text files of sample ids (GSM) and gene symbols, one per line: read only these (before
        the random ``samples``/``genes`` draw). See :func:`csgene.io.read_name_list`.
    search, series : str or None
        ARCHS4 files: keep the samples whose metadata mention ``search`` or that belong to the
        GEO ``series`` (comma list of GSE ids); see :func:`csgene.io.read`.
    layer : str or None
        AnnData files: the layer to read instead of ``X`` (e.g. ``"counts"``).
    """

    data: str | None = None
    methods: list = field(default_factory=list)
    measurements: list = field(default_factory=lambda: [20, 50, 100, 200, 300])
    repeats: int = 3
    samples: int | None = None
    genes: int | None = None
    snr: float = 2.0
    seed: int = 0
    preprocess: str = "log1p"
    sparsity: int = 15
    modules: int | None = None
    design: str = "gaussian"
    design_options: dict = field(default_factory=dict)
    test_fraction: float = 0.2
    device: str = "auto"
    synthetic_modules: int = 40
    allow_negative: bool = False
    samples_from: str | None = None
    genes_from: str | None = None
    search: str | None = None
    series: str | None = None
    layer: str | None = None

    def check(self):
        """Validate every setting, raising :class:`InputError` with a fix; called before anything
        is written, so that a refused setting leaves no trace in the output folder."""
        from .design import DESIGNS, design_options
        from .preprocess import make_preprocessor

        unknown = [m for m in self.methods if m not in METHODS]
        if unknown:
            raise InputError(f"unknown method(s) {unknown}; available: {', '.join(METHODS)}.")
        if not self.methods:
            raise InputError("no methods given; pass e.g. --methods mean,ridge,smaf.")
        check_unique(self.methods, "methods")
        if not self.measurements:
            raise InputError("measurements is empty; give at least one number of measurements.")
        for d in check_unique(self.measurements, "measurements"):
            check_positive_int(d, "each number of measurements")
        check_positive_int(self.repeats, "repeats")
        check_positive_int(self.sparsity, "sparsity")
        for name in ("samples", "genes", "modules"):
            if getattr(self, name) is not None:
                check_positive_int(getattr(self, name), name)
        check_seed(self.seed)
        make_preprocessor(self.preprocess)
        if self.design not in DESIGNS:
            raise InputError(f"unknown design {self.design!r}; choose one of {', '.join(DESIGNS)}.")
        unknown = sorted(set(self.design_options) - set(design_options(self.design)))
        if unknown:
            flags = ", ".join("--" + name.replace("_", "-") for name in unknown)
            raise InputError(f"design {self.design!r} does not take {flags}; it takes: "
                             f"{', '.join(design_options(self.design)) or 'no options'}.")
        if not 0 < self.test_fraction < 1:
            raise InputError(f"test_fraction must be in (0, 1), got {self.test_fraction}.")
        check_snr(self.snr)
        selection = [name for name in SELECTION_SETTINGS if getattr(self, name) is not None]
        if self.data is None and selection:
            raise InputError(f"{', '.join(selection)} select from a data file; pass data (--data FILE) too.")
        return self

    def to_json(self) -> dict:
        out = dataclasses.asdict(self)
        out["snr"] = "inf" if np.isinf(self.snr) else self.snr
        return out


# --------------------------------------------------------------------------- data


def load_data(config: ExperimentConfig):
    """Return (X (n_samples, n_genes) float64 counts or values, gene_names, description dict)."""
    if config.data is None:
        from .datasets import make_expression

        n_samples = config.samples or 1000
        n_genes = config.genes or 1000
        synth = make_expression(
            n_samples=n_samples,
            n_genes=n_genes,
            n_modules=config.synthetic_modules,
            random_state=config.seed,
        )
        X = np.asarray(synth.counts, dtype=np.float64)
        return X, np.asarray(synth.gene_names), {
            "source": "csgene.datasets.make_expression",
            "n_samples": n_samples,
            "n_genes": n_genes,
            "n_true_modules": config.synthetic_modules,
        }
    from . import io

    data = io.read(
        config.data,
        n_samples=config.samples,
        n_genes=config.genes,
        random_state=config.seed,
        dtype=np.float64,
        allow_negative=config.allow_negative,
        **io.selection_arguments(config.samples_from, config.genes_from, config.search, config.series, config.layer),
    )
    return data.X, np.asarray(data.gene_names), {
        "source": str(config.data),
        "layout": getattr(data, "layout", None),
        "n_samples": int(data.X.shape[0]),
        "n_genes": int(data.X.shape[1]),
        "selection": {name: getattr(config, name) for name in SELECTION_SETTINGS if getattr(config, name) is not None},
    }


# --------------------------------------------------------------------------- run


def versions() -> dict:
    import numba
    import scipy
    import sklearn

    out = {
        "csgene": __version__,
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "numba": numba.__version__,
        "scikit-learn": sklearn.__version__,
        "platform": platform.platform(),
    }
    try:
        import torch

        out["torch"] = torch.__version__
    except ImportError:
        pass
    return out


def data_fingerprint(config: ExperimentConfig) -> dict | None:
    """:func:`csgene.io.file_fingerprint` of ``config.data`` (None for the built-in synthetic data)."""
    if config.data is None:
        return None
    from .io import file_fingerprint
    from .io._common import check_path_exists

    return file_fingerprint(check_path_exists(config.data))


def check_resume(out: Path, config: ExperimentConfig, data_id: dict | None = None) -> None:
    """Refuse to mix results of different settings or different data in one output directory.

    A folder whose run.json has no results yet (a run refused or stopped before its first row)
    may be restarted with any settings.
    """
    run_json = out / "run.json"
    if not run_json.exists():
        if (out / "results.csv").exists():
            raise InputError(
                f"{out} has a results.csv but no run.json, so its settings are unknown; "
                f"choose another --out or remove {out / 'results.csv'}."
            )
        return
    if not read_results(out / "results.csv"):
        return
    try:
        previous = json.loads(run_json.read_text())
        old = previous["config"]
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{run_json} is unreadable ({exc}), so the settings of the results in {out} are "
                         f"unknown; use another --out.") from exc
    new = config.to_json()
    defaults = ExperimentConfig().to_json()
    changed = sorted(
        k for k in set(old) | set(new) if k not in NON_RESULT_SETTINGS and old.get(k, defaults.get(k)) != new.get(k)
    )
    if changed:
        details = "; ".join(f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in changed)
        raise InputError(
            f"{out} holds a run with different settings ({details}). Results are never mixed: "
            f"use another --out, or repeat the original settings to resume."
        )
    from .io import same_file_content

    recorded = previous.get("data_fingerprint")
    if data_id is not None and recorded is not None and not same_file_content(recorded, data_id):
        raise InputError(
            f"{config.data} is not the file {out} was started on (size {recorded.get('size')} -> "
            f"{data_id['size']} bytes, content hash {str(recorded.get('sha256'))[:12]}… -> "
            f"{data_id['sha256'][:12]}…). Results of two data sets are never mixed: run the changed data "
            f"with --out NEWDIR, or restore the original file to resume."
        )


def run_experiment(config: ExperimentConfig, out: str | os.PathLike, *, quiet: bool = False) -> list[dict]:
    """Run (or resume) an experiment, writing results.csv, summary.csv, run.json and plots.

    Returns the rows of results.csv.
    """
    from tqdm.auto import tqdm

    from .design import DESIGNS, DesignPrior, is_learned, make_design
    from .measure import measure
    from .metrics import evaluate, measurement_distance_corr
    from .preprocess import make_preprocessor

    config.check()
    device = resolve_device(config.device)
    data_id = data_fingerprint(config)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {str(out)!r} is a file; the run writes a folder. Choose another --out.")
    check_resume(out, config, data_id)
    out.mkdir(parents=True, exist_ok=True)
    results_path = out / "results.csv"
    rows = read_results(results_path)
    done = {(r["method"], r["n_measurements"], r["repeat"]) for r in rows}

    X_all, gene_names, data_info = load_data(config)
    n_samples, n_genes = X_all.shape
    n_test = max(1, int(round(config.test_fraction * n_samples)))
    if n_samples - n_test < 2:
        raise InputError(f"{n_samples} samples with test_fraction={config.test_fraction} leave "
                         f"{n_samples - n_test} for training; need at least 2 training samples and 1 test "
                         f"sample (3 samples, and a smaller test_fraction).")
    measurements = [int(d) for d in config.measurements]
    too_many = [d for d in measurements if d > n_genes]
    if too_many:
        log.warning("measurement counts %s exceed the %d genes; they are kept but wasteful", too_many, n_genes)

    run_info = {
        "config": config.to_json(),
        "data": data_info,
        "versions": versions(),
        "device": device,
        "data_fingerprint": data_id,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "seed": config.seed,
        "complete": False,
    }
    designs_info = _previous_designs(out)  # learned designs of a resumed run stay on record
    if designs_info:
        run_info["designs"] = [designs_info[key] for key in sorted(designs_info)]
    write_json_atomic(out / "run.json", run_info)

    method_names = list(config.methods)
    all_names = method_names + [MEASUREMENT_SPACE]
    todo = [
        (r, d, m) for r in range(config.repeats) for d in measurements for m in all_names
        if (m, d, r) not in done
    ]
    bar = tqdm(total=len(todo), disable=quiet, desc="csgene run", unit="row")
    repeat_seeds = np.random.SeedSequence(config.seed).spawn(config.repeats)
    try:
        for repeat in range(config.repeats):
            pending = [(d, m) for (r, d, m) in todo if r == repeat]
            if not pending:
                continue
            rng = np.random.default_rng(repeat_seeds[repeat])
            order = rng.permutation(n_samples)
            test_idx, train_idx = np.sort(order[:n_test]), np.sort(order[n_test:])
            prep = make_preprocessor(config.preprocess)
            X_train = prep.fit_transform(X_all[train_idx])
            X_test = prep.transform(X_all[test_idx])
            mean_profile = X_train.mean(axis=0)
            method_seed = int(rng.integers(2**31 - 1))
            design_seeds = {d: int(s) for d, s in zip(measurements, rng.integers(2**31 - 1, size=len(measurements)))}

            # a learned design sees this repeat's training profiles only, never its test samples
            design_prior = (DesignPrior.fit(X_train, config.snr, random_state=method_seed)
                            if DESIGNS[config.design].learns_from == "prior" else None)
            fitted, fit_time, fit_error, fit_history = {}, {}, {}, {}
            for name in method_names:
                if not any(m == name for _, m in pending):
                    continue
                bar.set_postfix_str(f"repeat {repeat}: fitting {name}")
                start = time.perf_counter()
                try:
                    method = make_method(
                        name, n_modules=config.modules, sparsity=config.sparsity,
                        n_train=len(train_idx), random_state=method_seed, device=config.device,
                    )
                    fitted[name] = method.fit(X_train)
                    # generative priors train in fit(), independent of d: one curve per repeat
                    _write_training_history(fitted[name], out, name, repeat, None)
                    fit_history[name] = getattr(fitted[name], "history_", None)
                except InputError:
                    raise
                except Exception as exc:  # a failing method must not lose the others' results
                    log.warning("method %s failed to fit: %s", name, exc)
                    log.debug("%s", traceback.format_exc())
                    fit_error[name] = f"{type(exc).__name__}: {exc}"
                fit_time[name] = time.perf_counter() - start

            for d in measurements:
                names_d = [m for (dd, m) in pending if dd == d]
                if not names_d:
                    continue
                drng = np.random.default_rng(design_seeds[d])
                start = time.perf_counter()
                A = make_design(config.design, d, n_genes, random_state=drng, X_train=X_train,
                                snr=config.snr, prior=design_prior, **config.design_options)
                if is_learned(config.design):
                    designs_info[(repeat, d)] = _save_learned_design(
                        A, config, repeat, time.perf_counter() - start, design_prior, gene_names, out)
                    run_info["designs"] = [designs_info[key] for key in sorted(designs_info)]
                    write_json_atomic(out / "run.json", run_info)
                Y = measure(X_test, A, snr=config.snr, random_state=drng)
                base = {"n_measurements": d, "repeat": repeat, "n_train": len(train_idx),
                        "n_test": n_test, "n_genes": n_genes, "error": ""}
                for name in names_d:
                    bar.set_postfix_str(f"repeat {repeat}, d={d}: {name}")
                    row = dict(base, method=name)
                    if name == MEASUREMENT_SPACE:
                        start = time.perf_counter()
                        row["distance_corr"] = measurement_distance_corr(X_test, Y)
                        row["recover_seconds"] = time.perf_counter() - start
                        row["fit_seconds"] = 0.0
                    elif name in fit_error:
                        row["error"] = fit_error[name]
                    else:
                        row.update(_recover_and_score(
                            fitted[name], A, Y, X_test, mean_profile, config.snr, design_seeds[d],
                            fit_time[name], evaluate,
                        ))
                        if getattr(fitted[name], "history_", None) is not fit_history.get(name):
                            _write_training_history(fitted[name], out, name, repeat, d)
                    rows.append(row)
                    write_csv_atomic(results_path, rows, RESULT_COLUMNS)
                    bar.update(1)
    finally:
        bar.close()
    summary = summarize(rows)
    write_csv_atomic(out / "summary.csv", summary, SUMMARY_COLUMNS)
    run_info.update(complete=True, finished=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    write_json_atomic(out / "run.json", run_info)
    try:
        plot_results(rows, out)
        plot_training_curves(out / TRAINING_DIR, out / "training.png")
    except Exception as exc:  # plots are a convenience; never lose a finished run over them
        log.warning("could not draw plots: %s", exc)
    return read_results(results_path)


TRAINING_DIR = "training"
#: Where a run keeps the designs it learned, as design CSVs a lab can use.
DESIGNS_DIR = "designs"


def _save_learned_design(A, config, repeat, seconds, prior, gene_names, out: Path) -> dict:
    """Write a learned design to designs/<kind>_r<repeat>_d<d>.csv; return its run.json record."""
    from .design import write_design_csv
    from .measure import design_fingerprint

    d = A.shape[0]
    path = out / DESIGNS_DIR / f"{config.design}_r{repeat}_d{d}.csv"
    path.parent.mkdir(exist_ok=True)
    provenance = {"kind": config.design, "options": config.design_options, "snr": config.to_json()["snr"],
                  "preprocess": config.preprocess, "learned_from": "training split of repeat "
                  f"{repeat} ({config.data or 'synthetic data'})"}
    write_design_csv(path, A, [str(name) for name in gene_names], provenance=provenance)
    record = {"repeat": repeat, "n_measurements": d, "sha256": design_fingerprint(A),
              "learn_seconds": round(seconds, 3), "file": str(path.relative_to(out))}
    if prior is not None:
        record["recovered_fraction"] = round(prior.recovered_fraction(A), 5)
    return record


def _previous_designs(out: Path) -> dict:
    """Learned-design records of an earlier, resumed run, keyed by (repeat, d)."""
    try:
        records = json.loads((out / "run.json").read_text()).get("designs", [])
        return {(r["repeat"], r["n_measurements"]): r for r in records}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def _write_training_history(method, out: Path, name: str, repeat: int, d: int | None) -> None:
    """Save a neural method's training curves (``history_``) as training/<name>_r<repeat>[_d<d>].json.

    ``d`` is None for models trained once per repeat, whatever the design (the generative priors).
    """
    history = getattr(method, "history_", None)
    if not isinstance(history, dict):
        return
    folder = out / TRAINING_DIR
    folder.mkdir(exist_ok=True)
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in name)
    suffix = "" if d is None else f"_d{d}"
    write_json_atomic(folder / f"{safe}_r{repeat}{suffix}.json",
                      {"method": name, "repeat": repeat, "n_measurements": d, **history})


def _recover_and_score(method, A, Y, X_test, mean_profile, snr, seed, fit_seconds, evaluate):
    out = {}
    try:
        start = time.perf_counter()
        method.fit_design(A, snr=snr, random_state=seed)
        design_seconds = time.perf_counter() - start
        start = time.perf_counter()
        X_hat = method.recover(Y)
        out["recover_seconds"] = time.perf_counter() - start
        out["fit_seconds"] = fit_seconds + design_seconds
        scores = evaluate(X_test, X_hat, mean_profile=mean_profile)
        out.update({k: float(scores[k]) for k in METRIC_COLUMNS})
    except InputError:
        raise
    except Exception as exc:
        log.warning("method %s failed at d=%d: %s", getattr(method, "name", method), A.shape[0], exc)
        out["error"] = f"{type(exc).__name__}: {exc}"
    return out
