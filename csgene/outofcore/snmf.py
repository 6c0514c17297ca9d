"""Sparse NMF out of core: :class:`csgene.dictionary.SparseNMF` with ``solver="bcd"``, one pass per iteration.

The ``"bcd"`` solver's W-step is per sample (a nonnegative lasso on the current modules) and
its H-step needs only ``A = WᵀW``, ``B = XᵀW`` and, for the objective, ``ΣW`` and ‖X‖²
(:mod:`csgene.dictionary.snmf_bcd`). So pass t runs the W-step on each block, warm-started from
that block's activities of pass t − 1, and accumulates A, B and ΣW; after the pass the driver
runs the H-step and the stopping rule, exactly as the in-memory fit does. The starting modules
are ``nmf_init``'s, drawn from the mean the per-gene sums give. The result equals the in-memory
fit up to floating-point summation order.

State between passes: the modules H (m × n_genes) and the last activities W (n_samples × m,
in the stream's dtype, for the warm starts and for the decoder's prior). At ARCHS4's full size
(167,726 samples, 35,238 genes, m = 150) W is 100.6 MB in float32 (201 MB in float64); a pass
holds the previous W and the new one (plus the B sum, 42 MB), and the checkpoint keeps one W
and one H (the superseded ones are dropped), about 122 MB in float32.
"""

from __future__ import annotations

import numpy as np

from .._device import kernels
from .._random import draw_seed
from ..dictionary._base import OMP, check_n_components
from ..dictionary.snmf import rescale_unit_components
from ..dictionary.snmf_bcd import (
    activity_sums,
    converged,
    initial_modules,
    objective_from_sums,
    update_activities,
    update_modules,
)
from ..exceptions import InputError


class ActivitiesTask:
    """One pass: the W-step on each block (warm from its previous rows) and the H-step's sums."""

    how = {"gram": "sum", "cov": "sum", "w_sum": "sum", "W": "rows"}

    def __init__(self, components, l1, device, previous=None):
        self.components = components
        self.l1 = l1
        self.device = device
        self.previous = previous

    def block_inputs(self, index, start, stop):
        return None if self.previous is None else self.previous[start:stop]

    def __call__(self, X, start, stop, init):
        x_sq_norms = np.einsum("ij,ij->i", X, X, dtype=np.float64)
        W = update_activities(kernels(self.device), X, self.components, x_sq_norms, self.l1, init)
        return dict(activity_sums(X, W), W=W)

    def __getstate__(self):  # workers get their block's rows as inputs, not every sample's
        return dict(self.__dict__, previous=None)


def dense_codes(W) -> dict:
    """Dense activities as the ``{"indices", "values"}`` codes the prior's passes take.

    ``indices`` is a read-only broadcast of ``0 .. m−1`` to W's shape (no memory); zero entries
    add nothing to the sums :func:`csgene_kernels.omp.codes_to_dense` builds.
    """
    W = np.asarray(W)
    return {"indices": np.broadcast_to(np.arange(W.shape[1], dtype=np.intp), W.shape), "values": W}


def fit_snmf(learner, stream, checkpoint, moments) -> dict:
    """Fit ``learner`` (an unfitted :class:`~csgene.dictionary.SparseNMF`, ``solver="bcd"``) on the stream.

    Sets the fitted attributes ``fit`` would, except the dense ``activities_``, and returns the
    final activities as codes ``{"indices", "values"}`` (:func:`dense_codes`) for the prior.

    Parameters
    ----------
    learner : SparseNMF
    stream : BlockStream
        With its preprocessing fitted.
    checkpoint : Checkpoint
    moments : dict
        The stream's per-gene ``min``, ``sum`` and ``sumsq`` of the preprocessed values.
    """
    solver, l1_activities, l1_components, max_iter, tol = learner._check_params()
    if solver != "bcd":
        raise InputError(f"out of core, SparseNMF is fitted with solver='bcd' (one pass over the file per outer "
                         f"iteration); solver={solver!r} would need a pass per update sweep. Use "
                         f"method_options={{'solver': 'bcd'}} or fit in memory.")
    if moments["min"].min() < 0:
        raise InputError("sparse NMF needs nonnegative preprocessed data, but the file's values are negative after "
                         "preprocessing; use a nonnegative preprocessing such as log1p.")
    n, g = stream.n_samples, stream.n_genes
    dtype = stream.dtype
    n_components = check_n_components(learner.n_components, n, "SparseNMF")
    seed = draw_seed(learner.random_state)
    x_mean = float(moments["sum"].sum()) / (n * g)
    x_sq_total = float(moments["sumsq"].sum())
    H = initial_modules(x_mean, g, n_components, seed, dtype)

    names = [f"snmf/pass{t}" for t in range(1, max_iter + 1)]
    done = [name for name in names if checkpoint.done(name)]
    state = checkpoint.results[done[-1]] if done else None
    objective = [] if state is None else [float(v) for v in state["objective"]]
    if state is not None:
        H = state["H"]
    while len(objective) < max_iter and not converged(objective, tol):
        t = len(objective)

        def one_pass(H=H, state=state, objective=objective, t=t):
            previous = None if state is None else state["W"]
            sums = stream.run(ActivitiesTask(H, l1_activities, learner.device, previous),
                              f"snmf pass {t + 1}/{max_iter}")
            H_new, _ = update_modules(sums["gram"].astype(dtype), sums["cov"].astype(dtype), H, l1=l1_components)
            value, residual = objective_from_sums(x_sq_total, sums["gram"], sums["cov"], sums["w_sum"], H_new,
                                                  l1_activities, l1_components)
            return {"H": H_new, "W": sums["W"], "objective": np.asarray(objective + [value]),
                    "residual": np.asarray(residual)}

        drop = [] if t == 0 else [(names[t - 1], key) for key in ("H", "W")]
        state = checkpoint.step(names[t], one_pass, drop=drop)
        H = state["H"]
        objective = [float(v) for v in state["objective"]]

    activities, components = rescale_unit_components(np.asarray(state["W"], dtype=dtype), np.asarray(H, dtype=dtype))
    learner.components_ = components
    learner.objective_ = np.asarray(objective)
    learner.reconstruction_err_ = float(np.sqrt(state["residual"]))
    learner.mean_ = np.zeros(g, dtype=dtype)
    learner.n_iter_ = len(objective)
    learner.n_components_ = n_components
    learner.n_features_in_ = g
    learner.recovery_kind_ = OMP
    return dense_codes(activities)
