"""Batch SMAF out of core: the same iterations as :class:`csgene.dictionary.SMAF`, one pass each.

SMAF's U-step needs only sums over samples (``WᵀW``, ``XᵀW`` and each gene's ``‖x_g‖²``,
:func:`csgene.dictionary.smaf.update_modules_from_sums`) and its W-step is per sample (OMP on
the modules). So pass ``t`` runs the W-step of iteration ``t`` on each block and accumulates the
sums the next U-step needs; the W-step's choice of k (the sparsest k whose overall fit is
acceptable) is made after the pass from the residual energies of every candidate k, with the
sums of every candidate kept until then. The first pass draws the random starting activities
block by block from the learner's seeded ``RandomState`` (in block order on the driver, so the
stream is the in-memory one) and sums them the same way.

The result equals the in-memory fit up to floating-point summation order (the sums are taken
block by block), with the same modules, activities, k and λ₂ history. The codes of the last
W-step are kept sparse (n_samples × k indices and values) for the decoder's prior.
"""

from __future__ import annotations

import json
import time

import numpy as np

from csgene_kernels.omp import code_residuals, codes_to_dense

from .._device import kernels
from .._random import check_random_state
from ..dictionary._base import OMP, unit_rows
from ..dictionary.smaf import effective_size, mean_nonzero, update_modules_from_sums
from ..exceptions import InputError

#: rows of dense codes built at once on the driver (for sizes and priors)
DENSE_ROWS = 8192


class InitTask:
    """Pass 0: the random starting activities W₀ (drawn per block on the driver) and ‖x_g‖², ‖x‖²."""

    how = {"gram": "sum", "cov": "sum", "x_sq_norms": "sum"}

    def __init__(self, n_components, random_state, dtype, mean):
        self.n_components = n_components
        self.rng = check_random_state(random_state)
        self.dtype = np.dtype(dtype)
        self.mean = mean

    def block_inputs(self, index, start, stop):
        return self.rng.random((stop - start, self.n_components)).astype(self.dtype)

    def __call__(self, X, start, stop, W):
        Xc = np.ascontiguousarray(X - self.mean)
        return {"gram": W.T @ W, "cov": Xc.T @ W, "x_sq_norms": np.einsum("ij,ij->j", Xc, Xc, dtype=np.float64)}


class WStepTask:
    """Pass t >= 1: OMP with every candidate k on the block; residual energies and next U-step sums.

    The residual energy of each k comes from Gram quantities
    (:func:`csgene_kernels.omp.code_residuals`, as in the in-memory W-step), and the candidates'
    ``XᵀW`` are one product with the block, so a pass costs two products with the block whatever
    the number of candidates.
    """

    def __init__(self, components, k_max, k_min, mean, device):
        self.components = components
        self.gram = np.ascontiguousarray(components @ components.T)
        self.ks = list(range(k_max, k_min - 1, -1))
        self.mean = mean
        self.device = device
        self.how = {}
        for k in self.ks:
            self.how.update({f"{k}/gram": "sum", f"{k}/cov": "sum", f"{k}/residual": "sum",
                             f"{k}/indices": "rows", f"{k}/values": "rows"})

    def __call__(self, X, start, stop, inputs):
        kern = kernels(self.device)
        U, gram = self.components, self.gram
        m = U.shape[0]
        Xc = np.ascontiguousarray(X - self.mean) if np.any(self.mean) else X
        dty = np.ascontiguousarray(Xc @ U.T)
        x_sq = np.einsum("ij,ij->i", Xc, Xc, dtype=np.float64)
        out = {}
        codes = np.empty((len(Xc), m * len(self.ks)), dtype=Xc.dtype)
        for c, k in enumerate(self.ks):
            indices, values = kern.omp_gram(gram, dty, k)
            W = codes_to_dense(indices, values, m)
            codes[:, c * m:(c + 1) * m] = W
            residual = code_residuals(gram, dty, x_sq, indices, values).sum()
            out.update({f"{k}/gram": W.T @ W, f"{k}/residual": np.asarray(residual),
                        f"{k}/indices": indices, f"{k}/values": values})
        cov = Xc.T @ codes
        for c, k in enumerate(self.ks):
            out[f"{k}/cov"] = cov[:, c * m:(c + 1) * m]
        return out


def choose_k(ks, residuals, x_sq_total, min_fit):
    """The in-memory W-step's choice: from k_max down, the sparsest k whose fit is >= min_fit."""
    best = None
    for k in ks:
        fit = 1.0 - float(residuals[k]) / x_sq_total
        if fit < min_fit and best is not None:
            break
        best = (k, fit)
        if fit < min_fit:
            break
    return best


def dense_chunks(indices, values, n_components):
    """Dense codes of successive row chunks (bounded memory)."""
    for a in range(0, len(indices), DENSE_ROWS):
        yield codes_to_dense(indices[a:a + DENSE_ROWS], values[a:a + DENSE_ROWS], n_components)


def fit_smaf(learner, stream, checkpoint, moments) -> dict:
    """Fit ``learner`` (an unfitted :class:`~csgene.dictionary.SMAF`) on the stream's preprocessed blocks.

    Sets the fitted attributes ``fit`` would (except the dense ``activities_``) and returns the
    last W-step's sparse codes ``{"indices", "values"}``.

    Parameters
    ----------
    learner : SMAF
    stream : BlockStream
        With its preprocessing fitted.
    checkpoint : Checkpoint
    moments : dict
        The stream's per-gene ``min``, ``max`` and ``sum`` of the preprocessed values.
    """
    if learner.init != "random":
        raise InputError(f"out-of-core SMAF starts from random activities (init='random'); init={learner.init!r} "
                         f"needs the whole matrix for its NMF start. Fit in memory or use init='random'.")
    n, g = stream.n_samples, stream.n_genes
    if moments["min"].min() < 0:
        raise InputError("SMAF needs nonnegative preprocessed data, but the file's values are negative after "
                         "preprocessing; use a nonnegative preprocessing such as log1p.")
    dtype = stream.dtype
    n_components, sparsity, min_sparsity, lda2, module_bound, activity_bound = learner._check_params(
        np.empty((0, g), dtype=dtype))
    mean = (moments["sum"] / n).astype(dtype) if learner.center else np.zeros(g, dtype=dtype)
    kern = kernels(learner.device)

    first = checkpoint.step("smaf/pass0", lambda: stream.run(
        InitTask(n_components, learner.random_state, dtype, mean), "smaf pass 0 (start)"))
    x_sq_norms = first["x_sq_norms"]
    x_sq_total = float(x_sq_norms.sum())
    if x_sq_total == 0:
        raise InputError("X (after centering) is all zeros, so there is nothing to factor. Check the "
                         "preprocessing, or use center=False.")
    names = [f"smaf/pass{t}" for t in range(learner.max_iter + 1)]
    last = max(t for t, name in enumerate(names) if checkpoint.done(name))
    state = checkpoint.results[names[last]]
    components = state["components"] if last else None
    history = json.loads(str(state["history"])) if last else []
    lda2 = float(state["lda2_next"]) if last else lda2
    for it in range(last, learner.max_iter):
        started = time.perf_counter()
        eps = lda2 * x_sq_total / g
        components, n_infeasible = update_modules_from_sums(
            state["gram"].astype(dtype), state["cov"].astype(dtype), x_sq_norms, eps, components,
            max_iter=learner.lasso_max_iter, tol=learner.lasso_tol, kern=kern)
        if learner.unit_norm_components:
            components = unit_rows(components)[0]
        task = WStepTask(components, sparsity, min_sparsity, mean, learner.device)

        def w_step(task=task, it=it, lda2=lda2, components=components, n_infeasible=n_infeasible,
                   started=started):
            sums = stream.run(task, f"smaf pass {it + 1}/{learner.max_iter}")
            result = _w_step_result(sums, task.ks, x_sq_total, 1.0 - lda2)
            sizes = _activity_sizes(result["indices"], result["values"], n_components)
            module_size = mean_nonzero(effective_size(components))
            entry = {"fit": float(result["fit"]), "lda2": lda2, "k": int(result["k"]), "module_size": module_size,
                     "activity_size": mean_nonzero(sizes), "n_infeasible": n_infeasible,
                     "seconds": time.perf_counter() - started}
            lda2_next = lda2 / 2.0 if module_size < module_bound else lda2
            lda2_next = lda2_next / 2.0 if entry["activity_size"] < activity_bound else lda2_next
            return dict(result, components=components, history=json.dumps(history + [entry]), lda2_next=lda2_next,
                        activity_sizes=sizes)

        superseded = ("gram", "cov", "indices", "values", "components", "activity_sizes")
        state = checkpoint.step(names[it + 1], w_step, drop=[(names[it], key) for key in superseded])
        components = state["components"]
        history = json.loads(str(state["history"]))
        lda2 = float(state["lda2_next"])
    k = int(state["k"])
    codes = {"indices": state["indices"], "values": state["values"]}
    varies = (moments["max"] - moments["min"]) > 0
    learner.mean_ = mean
    learner.components_ = components
    learner.uncovered_genes_ = np.flatnonzero(varies & ~np.any(components != 0, axis=0))
    learner.module_sizes_ = effective_size(components)
    learner.activity_sizes_ = state["activity_sizes"]
    learner.history_ = history
    learner.sparsity_ = k
    learner.lda2_ = lda2
    learner.n_iter_ = len(history)
    learner.n_components_ = n_components
    learner.n_features_in_ = g
    learner.recovery_kind_ = OMP
    return codes


def _activity_sizes(indices, values, n_components) -> np.ndarray:
    return np.concatenate([effective_size(W) for W in dense_chunks(indices, values, n_components)])


def _w_step_result(sums: dict, ks, x_sq_total: float, min_fit: float) -> dict:
    """Keep only the chosen k's sums and codes (what the checkpoint stores)."""
    k, fit = choose_k(ks, {k: sums[f"{k}/residual"] for k in ks}, x_sq_total, min_fit)
    return {"k": k, "fit": fit, "gram": sums[f"{k}/gram"], "cov": sums[f"{k}/cov"],
            "indices": sums[f"{k}/indices"], "values": sums[f"{k}/values"]}
