"""Fit a :class:`~csgene.pipeline.CompressedSensing` model from an expression file, out of core.

:func:`fit_file` makes the same model as ``CompressedSensing(...).fit(csgene.io.read(path).X)``
(same design, same method seeds, same preprocessing) while holding one block of samples at a
time: every statistic a fit needs is a sum (or minimum, maximum) over samples, accumulated pass
by pass (:mod:`csgene.outofcore._passes`).
"""

from __future__ import annotations

import math

import numpy as np

from .._random import check_random_state
from ..baselines import GaussianPrior
from ..bayesian_pursuit import activity_prior_from_sums
from ..dictionary import SMAF, SparseNMF, SVDDictionary
from ..dictionary_method import DictionaryMethod
from ..exceptions import InputError
from ..preprocess import Identity, Log1p, Log1pCPM, MinMaxScaler
from . import lowrank
from ._passes import BlockStream, Checkpoint, fingerprint
from .lowrank import BackgroundPlan, CombinedTask, MeansTask, ProjectionTask, Sketch, sketch_passes
from .smaf import dense_chunks, fit_smaf
from .snmf import fit_snmf

#: methods :func:`fit_file` fits out of core
STREAMED_METHODS = ("svd", "gaussian", "snmf", "smaf", "smaf-centered", "smaf-reference")
#: the SparseNMF solver an out-of-core ``snmf`` fit uses (one pass per outer iteration)
STREAMED_SNMF_SOLVER = "bcd"
#: seed of the backgrounds' held-out split (ModulePrior's random_state)
PRIOR_SPLIT_SEED = 0


# --------------------------------------------------------------------------- preprocessing


class StepStatsTask:
    """Statistics one preprocessing step's ``fit`` takes from its input, as block sums/extremes."""

    def __init__(self, step):
        self.step = step
        self.how = {"raw_min": "min"}
        if isinstance(step, MinMaxScaler):
            self.how.update({"min": "min", "max": "max"})
        elif isinstance(step, Log1p):
            self.how["log_max"] = "max"
        elif isinstance(step, Log1pCPM):
            self.how.update({"log_max": "max", "library": "sum"})

    def __call__(self, X, start, stop, inputs):
        step = self.step
        X = step._fit_input(X)
        out = {"raw_min": np.asarray(X.min()) if X.size else np.asarray(np.inf)}
        if isinstance(step, MinMaxScaler):
            out.update({"min": X.min(axis=0), "max": X.max(axis=0)})
        elif isinstance(step, Log1p):
            out["log_max"] = np.log1p(X, dtype=np.float64).max(axis=0)
        elif isinstance(step, Log1pCPM):
            out.update({"log_max": step._log_cpm(X).max(axis=0),
                        "library": X.sum(axis=1, dtype=np.float64).sum()})
        return out


def fit_preprocessor(chain, stream, checkpoint) -> float:
    """Fit each step of ``chain`` in one pass over its input; returns the raw data's minimum."""
    raw_min = math.inf
    for i, (name, step) in enumerate(chain.steps):
        if type(step) not in (Identity, MinMaxScaler, Log1p, Log1pCPM):
            raise InputError(
                f"preprocessing step {step.kind!r} cannot be fitted out of core (a percentile needs every "
                f"value at once); use preprocess='log1p', 'log1p-cpm', 'minmax' or 'none', or fit in memory."
            )
        stats = checkpoint.step(f"preprocess/{i}", lambda step=step, i=i: stream.run(
            StepStatsTask(step), f"preprocess {name}"))
        if i == 0:
            raw_min = float(stats["raw_min"])
        step._check_params()
        step.n_features_in_ = stream.n_genes
        if isinstance(step, MinMaxScaler):
            step.data_min_ = stats["min"].astype(np.float64)
            step.data_range_ = stats["max"].astype(np.float64) - step.data_min_
        elif isinstance(step, Log1p):
            step.log_max_ = stats["log_max"]
        elif isinstance(step, Log1pCPM):
            step.mean_library_size_ = np.asarray(float(stats["library"]) / stream.n_samples)
            step.log_max_ = stats["log_max"]
        stream.steps = [s for _, s in chain.steps[: i + 1]]
    return raw_min


class MomentsTask:
    """Per-gene sums, squares and extremes of the preprocessed values; largest ‖A x‖."""

    how = {"sum": "sum", "sumsq": "sum", "min": "min", "max": "max", "norm_max": "max"}

    def __init__(self, design):
        self.design = design

    def __call__(self, X, start, stop, inputs):
        return {"sum": X.sum(axis=0, dtype=np.float64), "sumsq": np.einsum("ij,ij->j", X, X, dtype=np.float64),
                "min": X.min(axis=0), "max": X.max(axis=0),
                "norm_max": np.linalg.norm(X @ self.design.T, axis=1).max()}


# --------------------------------------------------------------------------- backgrounds and codes


class CodeStatsTask:
    """Per-module counts, sums and squares of least-squares codes ``x Vᵀ`` (the SVD dictionary's)."""

    how = {"count": "sum", "sum": "sum", "sumsq": "sum", "nz_count": "sum", "nz_sum": "sum", "nz_sumsq": "sum"}

    def __init__(self, components):
        self.components = components

    def __call__(self, X, start, stop, inputs):
        return code_sums(np.asarray(X, dtype=self.components.dtype) @ self.components.T)


def code_sums(codes) -> dict:
    codes = np.asarray(codes, dtype=np.float64)
    active = codes != 0
    nonzero = codes[active]
    return {"count": active.sum(axis=0), "sum": codes.sum(axis=0), "sumsq": (codes**2).sum(axis=0),
            "nz_count": nonzero.size, "nz_sum": nonzero.sum(), "nz_sumsq": (nonzero**2).sum()}


def prior_from_code_sums(n: int, sums: dict) -> dict:
    count = float(sums["nz_count"])
    if count > 1:
        mean = float(sums["nz_sum"]) / count
        overall = float(sums["nz_sumsq"]) / count - mean**2
    else:
        overall = float(np.sum(sums["sumsq"])) / (n * len(sums["sum"])) or 1.0
    return activity_prior_from_sums(n, sums["count"], sums["sum"], sums["sumsq"], overall)


def fit_backgrounds(stream, checkpoint, plans, *, n_passes, extra_sketches=(), extra_task=None, components=None,
                    codes=None, seed=0):
    """Streamed :func:`csgene.lowrank.fit_background` of each plan (plus extra sketches and a task
    sharing the passes). Returns (backgrounds by name, extra spectra, extra task's sums)."""
    indices, values = (None, None) if codes is None else (codes["indices"], codes["values"])
    mean_sketches = [s for p in plans for s in p.mean_sketches()]
    sums = checkpoint.step("background/means", lambda: stream.run(
        MeansTask(mean_sketches, components, indices, values), "background means"))
    sketches = [s for i, p in enumerate(plans) for s in p.sketches(sums, seed + 2 * i)] + list(extra_sketches)
    spectra = sketch_passes(stream, checkpoint, "background", sketches, n_passes=n_passes, components=components,
                            indices=indices, values=values)
    choosing = [p for p in plans if p.choose]
    tasks = []
    if choosing:
        vectors = {f"{p.name}-kept": spectra[f"{p.name}-kept"]["vectors"] for p in choosing}
        tasks.append(ProjectionTask([p.held_sketch() for p in choosing], vectors, components, indices, values))
    if extra_task is not None:
        tasks.append(extra_task(spectra))
    held, extra = {}, None
    if tasks:
        result = checkpoint.step("background/held", lambda: stream.run(CombinedTask(tasks), "held-out rank"))
        if choosing:
            held = CombinedTask.split(result, 0)
        if extra_task is not None:
            extra = CombinedTask.split(result, len(tasks) - 1)
    backgrounds = {p.name: p.finish(spectra, held) for p in plans}
    return backgrounds, spectra, extra


# --------------------------------------------------------------------------- the methods


def _fit_gaussian(method: GaussianPrior, stream, checkpoint, moments, n_passes):
    n, g = stream.n_samples, stream.n_genes
    if method.n_factors != "auto":
        raise InputError("the out-of-core gaussian prior chooses its rank itself (n_factors='auto'); drop "
                         "n_factors from method_options or fit in memory.")
    method.estimator = "pca"  # factor analysis would need a pass per EM iteration
    plan = BackgroundPlan("prior", False, n, g, check_random_state(method.random_state))
    backgrounds, _, _ = fit_backgrounds(stream, checkpoint, [plan], n_passes=n_passes)
    background = backgrounds["prior"]
    method.n_factors_ = int(background["factors"].shape[0])
    method.mean_ = background["mean"]
    method.factors_ = background["factors"]
    method.noise_variance_ = background["psi"]
    method.signal_power_ = float(moments["sumsq"].sum()) / (n * g)
    method.n_genes_ = g
    method.dtype_ = np.dtype(stream.dtype)


def _fit_dictionary(method: DictionaryMethod, stream, checkpoint, moments, n_passes):
    n, g = stream.n_samples, stream.n_genes
    learner = method.learner
    decoder = "bayes" if method.decoder == "auto" else method.decoder
    if decoder != "bayes" and method.shrink and method.noise_aware:
        raise InputError(f"out of core, decoder={method.decoder!r} with shrink=True is not supported (its "
                         f"activity variances need another pass); use the default decoder, or shrink=False.")
    signal_power = float(moments["sumsq"].sum()) / (n * g)
    if isinstance(learner, (SMAF, SparseNMF)):
        fit = fit_smaf if isinstance(learner, SMAF) else fit_snmf
        codes = fit(learner, stream, checkpoint, moments)
        method.adopt_learner(signal_power)
        if decoder != "bayes":
            return
        prior = method.new_prior()
        plans = [BackgroundPlan(m, m == "activity", n, g, np.random.default_rng(PRIOR_SPLIT_SEED))
                 for m in prior.models]
        sums = _sparse_code_sums(codes, learner.n_components_)
        U = np.asarray(learner.components_, dtype=np.float64)
        backgrounds, _, _ = fit_backgrounds(stream, checkpoint, plans, n_passes=n_passes, components=U,
                                            codes=codes)
        method.prior_ = prior.set_fitted(U, prior_from_code_sums(n, sums), backgrounds)
        return
    if type(learner) is not SVDDictionary:
        raise InputError(f"no out-of-core fit for {type(learner).__name__}; streamed methods: "
                         f"{', '.join(STREAMED_METHODS)}.")
    if learner.center:
        raise InputError("the out-of-core SVD dictionary is uncentred (center=False), as the svd method's.")
    requested = learner._requested_components()
    rank = min(requested, n, g)
    svd_sketch = Sketch("svd", rank, seed=_seed(learner.random_state))
    learner.recovery_kind_ = "least_squares"  # before new_prior: an orthogonal basis gets the deviation model only
    prior = method.new_prior() if decoder == "bayes" else None
    plans = [] if prior is None else [BackgroundPlan("deviation", False, n, g, np.random.default_rng(PRIOR_SPLIT_SEED))]

    def codes_task(spectra):
        return CodeStatsTask(_svd_components(spectra["svd"], stream.dtype)[1])

    if plans:
        backgrounds, spectra, code_stats = fit_backgrounds(
            stream, checkpoint, plans, n_passes=n_passes, extra_sketches=[svd_sketch], extra_task=codes_task)
    else:
        spectra = sketch_passes(stream, checkpoint, "svd", [svd_sketch], n_passes=n_passes)
    learner.singular_values_, learner.components_ = _svd_components(spectra["svd"], stream.dtype)
    learner.mean_ = np.zeros(g, dtype=stream.dtype)
    learner.n_components_ = rank
    learner.n_features_in_ = g
    learner.svd_solver_ = "streamed"
    method.adopt_learner(signal_power)
    if prior is not None:
        method.prior_ = prior.set_fitted(learner.components_, prior_from_code_sums(n, code_stats),
                                         {"deviation": backgrounds["deviation"]})


def _svd_components(spectrum, dtype):
    """Singular values and right singular vectors, signs as :func:`sklearn.utils.extmath.svd_flip`'s."""
    vectors = spectrum["vectors"].copy()
    biggest = np.argmax(np.abs(vectors), axis=1)
    signs = np.sign(vectors[np.arange(len(vectors)), biggest])
    vectors *= signs[:, None]
    return np.sqrt(spectrum["eig"]).astype(dtype), np.ascontiguousarray(vectors, dtype=dtype)


def _sparse_code_sums(codes, n_components) -> dict:
    total = None
    for dense in dense_chunks(codes["indices"], codes["values"], n_components):
        part = code_sums(dense)
        total = part if total is None else {k: total[k] + part[k] for k in total}
    return total


def _seed(random_state) -> int:
    return int(check_random_state(random_state).randint(2**31 - 1))


# --------------------------------------------------------------------------- entry point


def fit_file(path, *, method="smaf", n_measurements=100, design="gaussian", preprocess="log1p", n_modules=None,
             sparsity=15, snr=math.inf, random_state=None, device="cpu", method_options=None, block_size=None,
             dtype="float64", n_passes=lowrank.DEFAULT_PASSES, checkpoint=None, resume=True, progress=None,
             executor=None, on_step=None):
    """Fit a model from an ARCHS4-layout HDF5 file, reading one block of samples at a time.

    Memory is bounded by the block and the model (plus n_samples × k sparse codes for SMAF,
    n_samples × n_modules activities for snmf), not otherwise by the number of samples. The model is a normal
    :class:`~csgene.pipeline.CompressedSensing` (save it, ``csgene recover`` with it).

    Parameters
    ----------
    path : str or path-like
        ARCHS4 HDF5, generation 1 or 2 (or a csgene HDF5 output); every sample is used.
    method : {"svd", "gaussian", "snmf", "smaf", "smaf-centered", "smaf-reference"}
    n_measurements, design, preprocess, n_modules, sparsity, snr, random_state, device, method_options
        As in :class:`~csgene.pipeline.CompressedSensing`. ``preprocess`` may be ``"log1p"``,
        ``"log1p-cpm"``, ``"minmax"``, ``"none"`` or chains of them (not ``"clip"``). ``snmf`` is
        fitted with ``SparseNMF(solver="bcd")`` (one pass per outer iteration): its
        ``method_options`` get ``solver="bcd"`` unless they name it, and ``solver="mu"`` (200
        passes) is refused.
    block_size : int, optional
        Samples per block (default: about 256 MB of float32).
    dtype : {"float64", "float32"}
        dtype of the blocks and the learner's arithmetic (the in-memory fit's is the data's).
    n_passes : int
        Subspace-iteration passes for the SVD dictionary and the Gaussian backgrounds (exact when
        the sketch, rank + 10 columns, covers every gene; otherwise more passes, more accuracy).
    checkpoint : str or path-like, optional
        ``.npz`` file written atomically after every pass; a run with the same file, method and
        settings resumes from it (after a kill the result is identical). None: no checkpoint.
    resume : bool
        False starts over even when ``checkpoint`` exists.
    progress : bool or None
        A tqdm bar per pass (None: only on a terminal).
    executor : optional
        Where blocks run: None for this process, ``csgene.distributed.BlockExecutor(client)``
        for a Dask cluster (same result).
    on_step : callable, optional
        Called with each finished step's name (after its checkpoint is written).

    Returns
    -------
    CompressedSensing
        Fitted, with the file's gene names.

    Notes
    -----
    Equal to the in-memory fit up to summation order for the preprocessing, the design, SMAF
    (modules, k, λ₂ history), sparse NMF with ``solver="bcd"`` (modules, objective) and the
    decoder priors' means and activity statistics; the SVD
    dictionary and the Gaussian backgrounds' eigenvectors come from subspace iteration
    (exact when the sketch covers every gene). The ``gaussian`` method's covariance is the
    closed-form low-rank-plus-diagonal fit of :func:`csgene.lowrank.fit_background` (its rank
    chosen on held-out samples, as in memory) instead of scikit-learn's iterative factor
    analysis, which would need a pass per EM iteration.
    """
    from ..pipeline import CompressedSensing

    if method not in STREAMED_METHODS:
        raise InputError(f"method {method!r} has no out-of-core fit; streamed methods: {', '.join(STREAMED_METHODS)} "
                         f"(on the command line, drop --out-of-core/--block-size to fit {method!r} in memory).")
    if not isinstance(design, str):
        raise InputError("out of core, design must be a design kind (e.g. 'gaussian'); pass a design file's "
                         "matrix to an in-memory fit instead.")
    if method == "snmf":
        method_options = dict(method_options or {})
        solver = method_options.setdefault("solver", STREAMED_SNMF_SOLVER)
        if solver != STREAMED_SNMF_SOLVER:
            raise InputError(f"out of core, snmf is fitted with solver={STREAMED_SNMF_SOLVER!r} (one pass over the "
                             f"file per outer iteration); solver={solver!r} would read the file once per update "
                             f"sweep (200 by default). Drop the 'solver' method option (or set it to "
                             f"{STREAMED_SNMF_SOLVER!r}), or fit in memory.")
    n_passes = int(n_passes)
    if n_passes < 1:
        raise InputError(f"n_passes must be >= 1, got {n_passes}.")
    stream = BlockStream(path, block_size=block_size, dtype=dtype, executor=executor, progress=progress)
    model = CompressedSensing(method, n_measurements=n_measurements, design=design, preprocess=preprocess,
                              n_modules=n_modules, sparsity=sparsity, snr=snr, random_state=random_state,
                              device=device, method_options=method_options)
    settings = {"params": {k: repr(v) for k, v in model.get_params().items()}, "block_size": stream.block_size,
                "dtype": stream.dtype.name, "n_passes": n_passes}
    ck = Checkpoint(checkpoint, fingerprint(stream.identity, settings), resume=resume, on_step=on_step)
    rng = model._start_fit((stream.n_samples, stream.n_genes), stream.gene_names)
    model.nonnegative_ = bool(fit_preprocessor(model.preprocessor_, stream, ck) >= 0)
    moments = ck.step("moments", lambda: stream.run(MomentsTask(model.design_), "moments"))
    model.measurement_norm_max_ = float(moments["norm_max"])
    low, high = moments["min"].astype(stream.dtype), moments["max"].astype(stream.dtype)
    model.recovery_bounds_ = (low - (high - low), high + (high - low))
    if isinstance(model.method_, GaussianPrior):
        _fit_gaussian(model.method_, stream, ck, moments, n_passes)
    else:
        _fit_dictionary(model.method_, stream, ck, moments, n_passes)
    model.method_.fit_design(model.design_, snr=model.snr, random_state=int(rng.integers(2**31 - 1)))
    ck.discard()
    return model
