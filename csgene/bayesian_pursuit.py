"""Bayesian matching pursuit over a module dictionary, with a Gaussian background.

Plain OMP (Cleary et al. 2017) commits to k modules whatever the noise, so at small d it fits the
measurement noise and the part of the profile no module explains, and scores below predicting the
training mean. This decoder treats the dictionary as a prior and returns the posterior mean.

Two generative models of a profile x (n_genes,), each a sparse set S of active modules on top of
a Gaussian background e ~ N(b, F Fᵀ + diag ψ) (low rank plus diagonal), measured as
y = A(x + n), n ~ N(0, σ² I):

``"activity"``
    x = Σ_{j∈S} w_j u_j + e, module j active with probability p_j and activity
    w_j ~ N(m_j, v_j) (mean and variance of its nonzero training activities); the background is
    fitted to the training residuals X − W U. This is the dictionary's own model.
``"deviation"``
    x = Σ_{j∈S} δ_j u_j + e, δ_j ~ N(0, v_j), with the background fitted to the training profiles
    themselves (its mean is the training mean), and module j in S with probability p_j (capped
    at ½ for SVD bases, whose directions the background already holds). With S = ∅ this is the ``gaussian`` baseline;
    modules are added only where the measurements support them.

For each model and sample, the support is chosen greedily by its marginal likelihood (a
single-path form of Schniter, Potter & Ziniel's fast Bayesian matching pursuit, 2008): a
module is added while it raises log p(y, S), which weighs the fit against the module's prior
probability and the volume its activity prior spends. Given S everything is Gaussian, so the
posterior mean of x is exact: x̂ = b + U_Sᵀ ŵ_S + Σ_e Aᵀ C⁻¹ (y − A b − A U_Sᵀ ŵ_S) with
C = A (Σ_e + σ² I) Aᵀ; genes no module covers still get the background's recovery. The two models'
estimates are averaged with weights from their evidences p(y, S) (Bayesian model averaging per
sample): at small d the measurements favour the Gaussian-based model, at large d the modules.

All linear algebra per greedy step is on (n_modules × n_modules) matrices per sample (rank-one
updates of Φᵀ C_S⁻¹ Φ), independent of the number of genes and of d; samples are processed in
blocks to bound memory.
"""

from __future__ import annotations

import numpy as np

from ._validation import check_matrix
from .exceptions import InputError
from .lowrank import fit_background

MODELS = ("activity", "deviation")

#: Floor of a module's activity variance, relative to the variance of all nonzero activities.
ACTIVITY_VARIANCE_FLOOR = 0.1

#: Memory budget of the per-sample (n_modules × n_modules) matrices of one block, in floats.
BLOCK_FLOATS = 2**24


def activity_prior(codes: np.ndarray) -> dict:
    """Per module: probability of being active, mean and variance of its nonzero activities.

    Probabilities are kept inside [1/(n+2), 1 − 1/(n+2)] (the posterior mean under a uniform
    prior, so a module never seen active keeps a small chance); variances are floored at
    :data:`ACTIVITY_VARIANCE_FLOOR` times the variance of all nonzero activities.
    """
    codes = np.asarray(codes, dtype=np.float64)
    active = codes != 0
    nonzero = codes[active]
    overall = float(nonzero.var()) if nonzero.size > 1 else float(np.mean(codes**2)) or 1.0
    return activity_prior_from_sums(codes.shape[0], active.sum(axis=0), codes.sum(axis=0),
                                    (codes**2).sum(axis=0), overall)


def activity_prior_from_sums(n: int, count, total, total_sq, overall: float) -> dict:
    """:func:`activity_prior` from per-module sums over samples (what a streamed fit accumulates).

    ``count``, ``total``, ``total_sq``: per module, the number of samples where it is active and
    the sums of its activities and their squares; ``overall``: the variance of all nonzero
    activities (the floor's scale).
    """
    count = np.asarray(count)
    prob = np.clip(count / n, 1.0 / (n + 2), 1.0 - 1.0 / (n + 2))
    safe = np.maximum(count, 1)
    mean = np.where(count > 0, total / safe, 0.0)
    var = np.where(count > 1, total_sq / safe - mean**2, 0.0)
    var = np.maximum(var, ACTIVITY_VARIANCE_FLOOR * max(overall, 1e-300))
    return {"prob": prob, "mean": mean, "var": var}


class _Model:
    """One sparse-plus-Gaussian model prepared for a design."""

    def __init__(self, components, background, prob, mean, var, design, noise_variance):
        A = design
        self.background_mean = background["mean"]
        factors, psi = background["factors"], background["psi"]
        AF = A @ factors.T
        C = AF @ AF.T + (A * (psi + noise_variance)) @ A.T
        C += 1e-10 * np.trace(C) / C.shape[0] * np.eye(C.shape[0])
        self.chol = np.linalg.cholesky(C)
        self.half_log_det = float(np.log(np.diag(self.chol)).sum())
        D = A @ components.T
        self.measured_components = D
        self.whitened = np.linalg.solve(self.chol, D)  # (d, n_modules)
        self.whitened_gram = self.whitened.T @ self.whitened
        cov_At = factors.T @ AF.T + psi[:, None] * A.T  # Σ_e Aᵀ, (n_genes, d)
        self.background_gain = np.linalg.solve(C, cov_At.T).T  # Σ_e Aᵀ C⁻¹
        self.measured_mean = A @ self.background_mean
        self.prob, self.mean, self.var = prob, mean, var
        self.log_odds = np.log(prob / (1.0 - prob))
        self.log_none = float(np.log1p(-prob).sum())

    def whiten(self, Y):
        """C^{-1/2}(y − A b): the whitened residual of the empty support, per sample."""
        return np.linalg.solve(self.chol, (Y - self.measured_mean).T).T

    def pursue(self, Z, max_atoms):
        """Greedy supports (n, max_atoms; −1 = unused) and log p(y, S) up to a shared constant,
        from the whitened residuals Z = :meth:`whiten` (Y)."""
        n = Z.shape[0]
        m, v = self.mean, self.var
        G = np.repeat(self.whitened_gram[None], n, axis=0)  # Φᵀ C_S⁻¹ Φ per sample
        h = Z @ self.whitened  # Φᵀ C_S⁻¹ (z − Φ_S m_S)
        support = np.full((n, max_atoms), -1, dtype=np.int64)
        total = np.zeros(n)
        chosen = np.zeros(G.shape[:2], dtype=bool)
        searching = np.ones(n, dtype=bool)
        for step in range(max_atoms):
            s = np.einsum("njj->nj", G)
            # change of −2 log p(y, S) when module j joins S (matrix-determinant and Woodbury lemmas)
            gain = (-2.0 * m * h + m**2 * s - v * (h - m * s) ** 2 / (1.0 + v * s)
                    + np.log1p(v * s) - 2.0 * self.log_odds)
            gain[chosen] = np.inf
            best = np.argmin(gain, axis=1)
            best_gain = gain[np.arange(n), best]
            searching &= best_gain < 0
            rows = np.flatnonzero(searching)
            if rows.size == 0:
                break
            j = best[rows]
            support[rows, step] = j
            chosen[rows, j] = True
            total[rows] += best_gain[rows]
            g = G[rows, :, j]
            sj, hj, vj, mj = s[rows, j], h[rows, j], v[j], m[j]
            coef = vj / (1.0 + vj * sj)
            h[rows] -= (mj + coef * (hj - mj * sj))[:, None] * g
            G[rows] -= coef[:, None, None] * g[:, :, None] * g[:, None, :]
        log_evidence = -0.5 * (np.einsum("ij,ij->i", Z, Z) + total) - self.half_log_det + self.log_none
        return support, log_evidence

    def posterior_mean(self, Y, Z, support, components):
        """E[x | y, S] for every sample (n, n_genes); Z = :meth:`whiten` (Y)."""
        n, k = support.shape
        used = support >= 0
        idx = np.where(used, support, 0)
        Phi_S = np.where(used[:, :, None], self.whitened.T[idx], 0.0)  # (n, k, d)
        var_S = self.var[idx]
        precision = np.einsum("nkd,nld->nkl", Phi_S, Phi_S)
        precision += np.eye(k) * np.where(used, 1.0 / var_S, 1.0)[:, None, :]
        rhs = np.where(used, self.mean[idx] / var_S + np.einsum("nkd,nd->nk", Phi_S, Z), 0.0)
        w = np.where(used, np.linalg.solve(precision, rhs[:, :, None])[:, :, 0], 0.0)
        codes = np.zeros((n, components.shape[0]))
        np.add.at(codes, (np.repeat(np.arange(n), k)[used.ravel()], idx[used]), w[used])
        residual = Y - self.measured_mean - codes @ self.measured_components.T
        return codes @ components + self.background_mean + residual @ self.background_gain.T


def _model_state(name, background, prob, code_mean, code_var) -> dict:
    state = {f"{name}_background_{k}": v for k, v in background.items()}
    state.update({f"{name}_prob": prob, f"{name}_code_mean": code_mean, f"{name}_code_var": code_var})
    return state


class ModulePrior:
    """The design-independent part of the decoder: activity priors and Gaussian backgrounds.

    Parameters
    ----------
    models : tuple of {"activity", "deviation"}
        Models to average (see the module docstring); one model gives that model's estimate.
    max_deviation_prob : float, default=1.0
        Cap on a module's prior probability of a deviation in the ``"deviation"`` model. When the
        modules span the background's own principal directions (an SVD basis), a deviation
        double counts their variance, and dense codes would add modules for their prior odds
        alone: :class:`csgene.methods.DictionaryMethod` caps at ½ for those.
    random_state : int, RandomState, Generator or None
        Seed of the held-out split that chooses the backgrounds' ranks.

    Attributes
    ----------
    state_ : dict
        The dictionary (``components``) and every fitted array, by model (what :meth:`get_state`
        saves).
    """

    def __init__(self, models=MODELS, max_deviation_prob=1.0, random_state=0):
        self.models = tuple(models)
        self.max_deviation_prob = max_deviation_prob
        self.random_state = random_state

    def fit(self, X, components, codes):
        """Fit from training profiles X (n, g), the dictionary (m, g) and training codes (n, m)."""
        unknown = [m for m in self.models if m not in MODELS]
        if unknown or not self.models:
            raise InputError(f"models must be a non-empty subset of {MODELS}, got {self.models!r}.")
        X = np.asarray(X, dtype=np.float64)
        U = np.asarray(components, dtype=np.float64)
        codes = np.asarray(codes, dtype=np.float64)
        backgrounds = {}
        if "activity" in self.models:
            backgrounds["activity"] = fit_background(X - codes @ U, self.random_state)
        if "deviation" in self.models:
            backgrounds["deviation"] = fit_background(X, self.random_state)
        return self.set_fitted(U, activity_prior(codes), backgrounds)

    def set_fitted(self, components, prior: dict, backgrounds: dict):
        """Assemble the state from the dictionary, :func:`activity_prior`'s result and the backgrounds
        (:func:`csgene.lowrank.fit_background` of the residuals ``X - codes U`` under ``"activity"``, of
        ``X`` under ``"deviation"``); an out-of-core fit computes those pieces itself."""
        state = {"components": np.asarray(components, dtype=np.float64)}
        if "activity" in self.models:
            state.update(_model_state("activity", backgrounds["activity"], prior["prob"], prior["mean"],
                                      prior["var"]))
        if "deviation" in self.models:
            state.update(_model_state("deviation", backgrounds["deviation"],
                                      np.minimum(prior["prob"], self.max_deviation_prob),
                                      np.zeros_like(prior["mean"]), prior["var"]))
        self.state_ = state
        return self

    def get_state(self) -> dict:
        return dict(self.state_)

    @classmethod
    def from_state(cls, state: dict) -> "ModulePrior":
        models = tuple(m for m in MODELS if f"{m}_prob" in state)
        prior = cls(models)
        prior.state_ = {k: np.asarray(v, dtype=np.float64) for k, v in state.items()}
        return prior

    def decoder(self, design, noise_variance: float, max_atoms: int) -> "BayesianPursuit":
        """The decoder for one design and per-gene noise variance σ²."""
        return BayesianPursuit(self, design, noise_variance, max_atoms)


class BayesianPursuit:
    """Posterior-mean decoder for one design (built by :meth:`ModulePrior.decoder`).

    Attributes
    ----------
    weights_ : ndarray of shape (n_samples, n_models)
        Each model's posterior weight per sample in the last :meth:`recover`.
    n_active_ : ndarray of shape (n_samples, n_models)
        Modules chosen per sample and model in the last :meth:`recover`.
    """

    def __init__(self, prior: ModulePrior, design, noise_variance: float, max_atoms: int):
        state = prior.state_
        self.components_ = state["components"]
        A = check_matrix(design, "design", dtype=np.float64)
        if A.shape[1] != self.components_.shape[1]:
            raise InputError(f"design has {A.shape[1]} genes but the dictionary has {self.components_.shape[1]}.")
        self.design_ = A
        self.noise_variance = float(noise_variance)
        self.max_atoms = int(min(max_atoms, self.components_.shape[0]))
        self.models_ = [
            _Model(self.components_,
                   {k: state[f"{name}_background_{k}"] for k in ("mean", "factors", "psi")},
                   state[f"{name}_prob"], state[f"{name}_code_mean"], state[f"{name}_code_var"], A,
                   float(noise_variance))
            for name in MODELS if f"{name}_prob" in state
        ]

    def recover(self, Y) -> np.ndarray:
        """Posterior-mean profiles (n_samples, n_genes) from measurements (n_samples, d)."""
        Y = check_matrix(Y, "Y (measurements)", dtype=np.float64)
        if Y.shape[1] != self.design_.shape[0]:
            raise InputError(f"Y has {Y.shape[1]} measurements per sample but the design has "
                             f"{self.design_.shape[0]} rows.")
        n_modules = self.components_.shape[0]
        block = max(1, BLOCK_FLOATS // (n_modules * n_modules))
        out = np.empty((Y.shape[0], self.components_.shape[1]))
        self.weights_ = np.empty((Y.shape[0], len(self.models_)))
        self.n_active_ = np.empty((Y.shape[0], len(self.models_)), dtype=np.int64)
        for start in range(0, Y.shape[0], block):
            rows = slice(start, start + block)
            estimates, evidences = [], []
            for i, model in enumerate(self.models_):
                Z = model.whiten(Y[rows])
                support, evidence = model.pursue(Z, self.max_atoms)
                estimates.append(model.posterior_mean(Y[rows], Z, support, self.components_))
                evidences.append(evidence)
                self.n_active_[rows, i] = (support >= 0).sum(axis=1)
            evidences = np.stack(evidences, axis=1)
            weights = np.exp(evidences - evidences.max(axis=1, keepdims=True))
            weights /= weights.sum(axis=1, keepdims=True)
            self.weights_[rows] = weights
            out[rows] = sum(w[:, None] * x for w, x in zip(weights.T, estimates))
        return out
