"""A dictionary learner plus a sparse decoder: the method behind ``svd``, ``ksvd``, ``snmf``,
``smaf`` and their variants (see :mod:`csgene.methods`), and SMAF+MLP's first stage.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted


class DictionaryMethod(BaseEstimator):
    """A dictionary learner plus a decoder.

    Parameters
    ----------
    learner : estimator
        A learner from :mod:`csgene.dictionary` (sets ``components_`` and ``recovery_kind_``,
        and ``mean_`` when it learns on deviations from the mean).
    decoder : {"auto", "bayes", "omp", "nnlasso", "lasso", "lstsq"}
        "auto" (default) is "bayes": the posterior mean under the dictionary's sparse prior with
        a Gaussian background (:mod:`csgene.bayesian_pursuit`), which chooses how many modules
        the measurements support and never does worse than its Gaussian part. "omp" with
        ``noise_aware=False, shrink=False`` is Cleary et al.'s decoder (plain k-sparse OMP).
    sparsity : int
        Largest number of active modules per sample (OMP's k; the Bayesian decoder's cap).
    ridge : float
        Relative ridge penalty of the refit on the OMP support (0 = none), or of the
        least-squares solve.
    noise_aware : bool
        Stop OMP at the expected energy of the measured noise, with the noise variance taken
        from the SNR given to :meth:`fit_design` and the training profiles' power (Cleary et
        al.'s SNR definition: ‖N‖_F = ‖X‖_F / SNR). Without it, OMP always uses ``sparsity``
        atoms and fits noise at low SNR.
    shrink : bool
        With ``noise_aware``, refit OMP's coefficients on the support as their posterior mean
        under a Gaussian prior with each module's training activity variance (see
        :class:`csgene.recovery.SparseDecoder`'s ``activity_variance``).
    device : {"cpu", "cuda", "auto"}
        Where the decoder's kernels run.
    name : str
    """

    def __init__(self, learner, *, decoder="auto", sparsity=15, ridge=0.0, noise_aware=True, shrink=True,
                 device="cpu", name="dictionary"):
        self.device = device
        self.shrink = shrink
        self.learner = learner
        self.decoder = decoder
        self.sparsity = sparsity
        self.ridge = ridge
        self.noise_aware = noise_aware
        self.name = name

    def fit(self, X_train):
        self.learner.fit(X_train)
        self.adopt_learner(float(np.mean(np.square(X_train, dtype=np.float64))))
        if self.decoder_kind_ == "bayes":
            # Fitted on the profiles themselves, also for centred learners: a Gaussian background
            # takes up a constant shift in its mean, so no separate mean handling is needed.
            codes = getattr(self.learner, "activities_", None)
            if codes is None:
                codes = self.learner.transform(X_train)
            self.prior_ = self.new_prior().fit(X_train, self.components_, codes)
            return self
        self.activity_variance_ = None
        if self.shrink and hasattr(self.learner, "transform"):
            codes = np.asarray(self.learner.transform(X_train), dtype=np.float64)
            active = codes != 0
            overall = float(np.sum(codes**2) / max(active.sum(), 1))
            with np.errstate(invalid="ignore", divide="ignore"):
                per_atom = np.sum(codes**2, axis=0) / active.sum(axis=0)
            self.activity_variance_ = np.where(active.sum(axis=0) > 0, per_atom, overall)
        return self

    def adopt_learner(self, signal_power: float):
        """Take the fitted learner's dictionary and choose the decoder kind (the start of :meth:`fit`).

        ``signal_power`` is the training profiles' mean squared value. An out-of-core fit
        (:mod:`csgene.outofcore`) fits the learner and the prior itself and calls this.
        """
        self.signal_power_ = float(signal_power)
        self.components_ = self.learner.components_
        self.mean_ = getattr(self.learner, "mean_", None) if getattr(self.learner, "center", False) else None
        self.decoder_kind_ = "bayes" if self.decoder == "auto" else self.decoder
        return self

    def new_prior(self):
        """The unfitted :class:`~csgene.bayesian_pursuit.ModulePrior` that suits the learner."""
        from .bayesian_pursuit import MODELS, ModulePrior

        # An SVD basis spans the Gaussian background's own principal directions, so a deviation
        # along it double counts variance unless capped; sparse modules (SMAF, K-SVD, NMF) are not
        # the background's factors and keep their training activity frequencies.
        orthogonal = getattr(self.learner, "recovery_kind_", "omp") == "least_squares"
        # ... and its "activity" model (k of the dense, Gaussian PCA scores) is misspecified: on
        # topk-svd it never won (LCL log1p d = 300: .988 -> .990 without it; svd unchanged).
        return ModulePrior(models=("deviation",) if orthogonal else MODELS,
                           max_deviation_prob=0.5 if orthogonal else 1.0)

    def fit_design(self, A, snr=np.inf, random_state=None):
        check_is_fitted(self, "components_")
        snr = float(snr)
        noise_variance = self.signal_power_ / snr**2 if self.noise_aware and np.isfinite(snr) else 0.0
        return self._build_decoder(A, noise_variance)

    def _build_decoder(self, A, noise_variance):
        from .recovery import SparseDecoder

        if self.decoder_kind_ == "bayes":
            self.decoder_ = self.prior_.decoder(A, noise_variance, self.sparsity)
            return self
        U = self.components_
        if self.decoder_kind_ == "lstsq":
            # leading components only: more unknowns than measurements has no unique solution
            U = U[: min(U.shape[0], np.asarray(A).shape[0])]
        self.decoder_ = SparseDecoder(
            self.decoder_kind_, sparsity=min(self.sparsity, U.shape[0]), ridge=self.ridge,
            noise_variance=noise_variance, device=self.device,
            activity_variance=None if self.decoder_kind_ == "lstsq" else self.activity_variance_,
        ).fit(A, U, mean=self.mean_)
        return self

    def recover(self, Y):
        check_is_fitted(self, "decoder_")
        return self.decoder_.recover(Y).astype(self.components_.dtype, copy=False)

    def get_state(self) -> dict:
        """Fitted state as arrays and scalars (for HDF5 model files)."""
        check_is_fitted(self, "decoder_")
        state = {
            "components_": self.components_,
            "design_": self.decoder_.design_,
            "decoder_kind_": self.decoder_kind_,
            "sparsity": self.sparsity,
            "noise_variance": self.decoder_.noise_variance,
        }
        if self.mean_ is not None:
            state["mean_"] = self.mean_
        if self.decoder_kind_ == "bayes":
            state.update({f"prior_{k}": v for k, v in self.prior_.get_state().items()})
            return state
        state["ridge"] = self.ridge
        if self.activity_variance_ is not None:
            state["activity_variance_"] = self.activity_variance_
        return state

    def set_state(self, state: dict):
        """Restore what :meth:`get_state` returned and rebuild the decoder."""
        self.components_ = np.asarray(state["components_"])
        self.mean_ = state.get("mean_")
        self.decoder_kind_ = str(state["decoder_kind_"])
        self.sparsity = int(state["sparsity"])
        if self.decoder_kind_ == "bayes":
            from .bayesian_pursuit import ModulePrior

            self.prior_ = ModulePrior.from_state({k[len("prior_"):]: v for k, v in state.items()
                                                  if k.startswith("prior_")})
            return self._build_decoder(np.asarray(state["design_"]), float(state["noise_variance"]))
        self.ridge = float(state["ridge"])
        self.activity_variance_ = state.get("activity_variance_")
        return self._build_decoder(np.asarray(state["design_"]), float(state.get("noise_variance", 0.0)))
