"""The compressed-sensing pipeline: preprocessing + dictionary + design + decoder, one object.

>>> from csgene import CompressedSensing
>>> from csgene.datasets import make_expression
>>> data = make_expression(n_samples=300, n_genes=200, n_modules=10, random_state=0)
>>> cs = CompressedSensing("smaf", n_measurements=50, preprocess="log1p", random_state=0)
>>> cs = cs.fit(data.counts[:250], gene_names=data.gene_names)
>>> Y = cs.measure(data.counts[250:], snr=10, random_state=1)   # a lab's composite measurements
>>> X_hat = cs.recover(Y)                                         # (50, 200) in counts

It is a scikit-learn estimator: ``fit(X, y=None, *, gene_names=None)`` (gene names may also
come from a DataFrame's columns or an AnnData's ``var_names``), ``transform`` gives noise-free
measurements ``A f(x)``, ``inverse_transform`` recovers profiles from measurements, and
``set_output(transform="pandas")`` returns DataFrames named by measurement (``m1``, ...) and
by gene.

Measurements are simulated in the preprocessed space (as in the seed paper and Cleary et
al.'s experiments): y = A (f(x) + noise) with f the fitted preprocessing. ``recover`` returns
profiles in the original units (through f⁻¹) or, with ``space="preprocessed"``, in f's space.

Model files are HDF5 (no pickle): preprocessing parameters, the method's fitted arrays, the
design, gene names and the csgene version that wrote them.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from datetime import datetime, timezone
from pathlib import Path

import h5py
import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from ._atomic import atomic_path
from ._progress import report
from ._random import as_generator, check_seed
from ._validation import check_matrix, check_positive_int, check_snr, gene_positions
from ._version import __version__
from .exceptions import InputError, ModelFileError
from .io import ExpressionData
from .design import is_learned, make_design
from .measure import design_fingerprint, measure
from .methods import SAVABLE_METHODS, DictionaryMethod, make_method
from .preprocess import PreprocessChain, make_preprocessor

#: Progress task of :meth:`CompressedSensing.fit` (preprocessing, method, design: 3 steps).
FIT_STEPS = "fit: preprocess, method, decoder"
MODEL_FORMAT = "csgene-model"
MODEL_FORMAT_VERSION = 1
#: root attribute of a model file holding the SHA-256 of everything else in it
CONTENT_HASH = "content_sha256"
#: Measurements whose norm exceeds this multiple of the largest training sample's are reported as
#: far outside what the model was trained on.
FAR_MEASUREMENTS = 4.0
#: What a model file says about the bounds of its recoveries (attribute ``recovery_bounds``).
RECOVERY_BOUNDS_NOTE = (
    "recover(space='original') clips each gene, before inverting the preprocessing, to its training "
    "range in the preprocessed space widened by that range on each side (recovery_low, recovery_high), "
    "and in the log space of a log1p/log1p-cpm step at its training maximum + log(2) (at most about "
    "twice the largest training value); then at 0 when the training data were nonnegative"
)


class CompressedSensing(TransformerMixin, BaseEstimator):
    """Learn from full profiles, then recover whole profiles from composite measurements.

    Parameters
    ----------
    method : str
        A method of :data:`csgene.methods.METHODS` (``"smaf"``, ``"snmf"``, ``"ksvd"``,
        ``"svd"``, ``"ridge"``, ``"gaussian"``, ...).
    n_measurements : int
        Composite measurements d per sample.
    design : str or array-like of shape (n_measurements, n_genes)
        Design kind for :func:`csgene.design.make_design`, or a given design matrix. Learned
        kinds (``"learned"``, ``"learned-pools"``, ``"landmarks"``, ``"best-of-random-pools"``)
        are learned from the preprocessed training profiles at ``snr`` (pass a finite ``snr``:
        at ``inf`` they assume noiseless measurements).
    preprocess : str
        Preprocessing chain (:func:`csgene.preprocess.make_preprocessor`), e.g. ``"log1p"``.
    n_modules : int, optional
        Dictionary size (default min(1.5·n_train, 150)).
    sparsity : int
        Active modules per sample (k).
    snr : float
        Noise level the design-dependent parts train for (ridge, neural decoders).
    random_state : int, RandomState, Generator or None
        Seed of the design and the method's initialisation (an int gives the same model on
        every fit).
    device : {"cpu", "cuda", "auto"}
        Where the kernels and neural models run ("auto": CUDA only when a GPU is really there).
    method_options : dict, optional
        Extra constructor arguments: the neural model's, e.g. ``{"max_epochs": 20}`` for ``"mlp"``
        or ``{"latent_dim": 10, "n_restarts": 5}`` for ``"vae"``; for the dictionary methods,
        :class:`DictionaryMethod`'s (``decoder``, ``ridge``, ...), and for ``"snmf"`` also its learner's
        ``solver``, ``l1_activities``, ``l1_components``, ``max_iter``, ``tol``; for ridge and gaussian, their
        baseline's. Plain values only: they are saved with the model.
    design_options : dict, optional
        Options of the design kind, e.g. ``{"pools_per_gene": 2, "max_genes_per_pool": 80}``
        (:func:`csgene.design.design_options` lists them).

    Attributes
    ----------
    preprocessor_ : PreprocessChain
    method_ : fitted method
    design_ : ndarray (n_measurements, n_genes)
    gene_names_ : ndarray of str
        The genes, in the order of the design's columns (``gene0``, ... when none were given).
    n_features_in_ : int
        Number of genes seen in ``fit``.
    feature_names_in_ : ndarray of str
        Column names of a DataFrame (or ``var_names`` of an AnnData) passed to ``fit``; only
        set when ``X`` had them (scikit-learn's convention).
    provenance_ : dict
        Where the model was trained: ``n_train``, ``n_genes``, ``fitted_at`` (UTC, ISO 8601) and,
        when the caller records them (``csgene fit`` does), ``data_file`` and
        ``data_sha256``. Saved in the model file and shown by ``csgene info``.
    recovery_bounds_ : tuple of two ndarrays (n_genes,) or None
        Per-gene limits, in the preprocessed space, of original-space recoveries: the training
        range widened by itself on each side (None for model files that predate them).
    measurement_norm_max_ : float or None
        Largest norm of a training sample's noise-free measurements ``A f(x)``; ``recover``
        warns about samples far beyond it (None for model files that predate it).
    """

    def __init__(
        self,
        method="smaf",
        *,
        n_measurements=100,
        design="gaussian",
        preprocess="log1p",
        n_modules=None,
        sparsity=15,
        snr=np.inf,
        random_state=None,
        device="cpu",
        method_options=None,
        design_options=None,
    ):
        self.design_options = design_options
        self.device = device
        self.method_options = method_options
        self.method = method
        self.n_measurements = n_measurements
        self.design = design
        self.preprocess = preprocess
        self.n_modules = n_modules
        self.sparsity = sparsity
        self.snr = snr
        self.random_state = random_state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True  # densified (csgene._validation.densify)
        try:  # a log1p step refuses negative data
            chain = make_preprocessor(self.preprocess)
            tags.input_tags.positive_only = any(step._requires_nonnegative for _, step in chain.steps)
        except InputError:
            pass
        return tags

    def fit(self, X, y=None, *, gene_names=None, provenance=None):
        """Fit preprocessing, method and design on training profiles.

        Parameters
        ----------
        X : array-like, DataFrame, sparse matrix or AnnData of shape (n_samples, n_genes)
            Training profiles. A DataFrame's columns, or an AnnData's ``var_names`` (its
            ``X`` is used), name the genes.
        y : None
            Ignored (scikit-learn's unsupervised convention).
        gene_names : array-like of str of shape (n_genes,), optional
            Gene names; default: the DataFrame's columns or AnnData's ``var_names``, else
            ``gene0``, ``gene1``, .... Must agree with the DataFrame's columns when both are given.
        provenance : dict, optional
            Where the data came from, recorded in ``provenance_`` and model files: plain values,
            e.g. ``{"data_file": "x.h5", "data_sha256": "..."}`` (``csgene fit`` records these).

        Returns
        -------
        self : CompressedSensing
        """
        if gene_names is None and y is not None and _looks_like_names(y):
            warnings.warn(
                "CompressedSensing.fit(X, gene_names) with the names as the second positional argument "
                "is deprecated: that place is scikit-learn's y. Pass fit(X, gene_names=names).",
                FutureWarning, stacklevel=2,
            )
            gene_names = y
        data, names = _unpack(X)
        X = check_matrix(data, "X", min_rows=2)
        validate_data(self, data, reset=True, skip_check_array=True)
        if names is not None and not hasattr(self, "feature_names_in_"):
            self.feature_names_in_ = np.asarray(names, dtype=object)  # AnnData var_names
        n_genes = X.shape[1]
        if gene_names is not None and names is not None:
            given = _gene_names(gene_names, n_genes)
            if given.tolist() != np.asarray(names).astype(str).tolist():
                raise InputError(
                    "gene_names differs from the column names of X (a DataFrame's columns or an "
                    "AnnData's var_names); give one or the other, or make them agree."
                )
        self.gene_names_ = _gene_names(gene_names if gene_names is not None else names, n_genes)
        self.nonnegative_ = bool(X.min() >= 0)
        report(FIT_STEPS, 0, 3)
        preprocessor = make_preprocessor(self.preprocess)
        Xp = preprocessor.fit_transform(X)
        report(FIT_STEPS, 1, 3)
        rng = self._start_fit(X.shape, self.gene_names_, preprocessor=preprocessor, X_train=Xp)
        self.measurement_norm_max_ = float(np.linalg.norm(Xp @ self.design_.T, axis=1).max())
        low, high = Xp.min(axis=0), Xp.max(axis=0)
        self.recovery_bounds_ = (low - (high - low), high + (high - low))
        self.method_.fit(Xp)
        report(FIT_STEPS, 2, 3)
        self.method_.fit_design(self.design_, snr=self.snr, random_state=int(rng.integers(2**31 - 1)))
        report(FIT_STEPS, 3, 3)
        self.provenance_ = {
            **_check_provenance(provenance),
            "n_train": int(X.shape[0]),
            "n_genes": int(n_genes),
            "fitted_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        return self

    def _start_fit(self, shape, gene_names, *, preprocessor=None, X_train=None):
        """Names, design and method of a fit: what it sets up before the method learns.

        Shared with the out-of-core fit (:mod:`csgene.outofcore`), so both draw the same design
        and method seeds. ``preprocessor`` is the fitted preprocessing (None: a new, unfitted one)
        and ``X_train`` the preprocessed training profiles a learned design is learned from (an
        out-of-core fit has none). Returns the generator whose next draw seeds ``fit_design``.
        """
        n_samples, n_genes = shape
        self.gene_names_ = _gene_names(gene_names, n_genes)
        check_snr(self.snr)
        if isinstance(self.random_state, (int, np.integer)):
            check_seed(self.random_state, "random_state")
        rng = as_generator(self.random_state)
        self.preprocessor_ = make_preprocessor(self.preprocess) if preprocessor is None else preprocessor
        if isinstance(self.design, str):
            d = check_positive_int(self.n_measurements, "n_measurements")
            if X_train is None and is_learned(self.design):
                raise InputError(
                    f"design {self.design!r} is learned from the training profiles, which an out-of-core "
                    f"fit never holds in memory. Learn it from a subset (`csgene design --learn DATA "
                    f"--samples 5000 --kind {self.design}`) and fit in memory with --design-file, or "
                    f"fit out of core with a random design."
                )
            self.design_ = make_design(self.design, d, n_genes, random_state=rng, X_train=X_train, snr=self.snr,
                                       **(self.design_options or {}))
        else:
            self.design_ = check_matrix(self.design, "design")
            if self.design_.shape[1] != n_genes:
                raise InputError(
                    f"the given design has {self.design_.shape[1]} genes but X has {n_genes}."
                )
        self.method_ = make_method(
            self.method, n_modules=self.n_modules, sparsity=self.sparsity, n_train=n_samples,
            random_state=int(rng.integers(2**31 - 1)), device=self.device, **self._method_options(),
        )
        return rng

    # ------------------------------------------------------------------ scikit-learn face

    def transform(self, X):
        """Noise-free composite measurements ``A f(x)`` of profiles X.

        The deterministic counterpart of :meth:`measure` (which adds noise at ``snr``), so the
        model works as a step of a scikit-learn ``Pipeline``.

        Parameters
        ----------
        X : array-like, DataFrame, sparse matrix or AnnData of shape (n_samples, n_genes)
            Profiles; a DataFrame's columns (or AnnData's ``var_names``) are matched to the
            model's genes by name.

        Returns
        -------
        Y : ndarray of shape (n_samples, n_measurements)
            A DataFrame with columns ``m1``, ... after ``set_output(transform="pandas")``.
        """
        return self.measure(X, snr=np.inf)

    def inverse_transform(self, Y):
        """Recovered profiles from measurements: :meth:`recover` in original units.

        Parameters
        ----------
        Y : array-like of shape (n_samples, n_measurements)

        Returns
        -------
        X : ndarray of shape (n_samples, n_genes)
            A DataFrame with the gene names as columns after ``set_output(transform="pandas")``.
        """
        return self.recover(Y)

    def get_feature_names_out(self, input_features=None):
        """Names of the measurements ``transform`` returns: ``m1``, ``m2``, ..., ``md``.

        The same names ``csgene simulate`` gives the columns of a measurements file.

        Parameters
        ----------
        input_features : array-like of str, optional
            Checked against the genes seen in ``fit``; they do not change the output names.

        Returns
        -------
        names : ndarray of str of shape (n_measurements,)
        """
        check_is_fitted(self, "method_")
        if input_features is not None:
            given = np.asarray(input_features).astype(str).tolist()
            expected = np.asarray(getattr(self, "feature_names_in_", self.gene_names_)).astype(str).tolist()
            if given != expected and not (len(given) == len(expected) and not hasattr(self, "feature_names_in_")):
                raise InputError(
                    f"input_features ({len(given)} names) is not equal to the {len(expected)} genes the "
                    f"model was fitted on (feature_names_in_, or gene_names_); leave it out."
                )
        return np.asarray([f"m{i + 1}" for i in range(self.design_.shape[0])], dtype=object)

    def _output(self, values: np.ndarray, columns, index=None):
        """``values`` as set by ``set_output``: an array, or a DataFrame with these columns."""
        from sklearn.utils._set_output import _get_output_config

        if _get_output_config("transform", self)["dense"] != "pandas":
            return values
        import pandas as pd

        return pd.DataFrame(values, columns=np.asarray(columns).astype(str), index=index)

    def _method_options(self) -> dict:
        options = self.method_options or {}
        if not isinstance(options, dict) or not all(isinstance(k, str) for k in options):
            raise InputError(f"method_options must be a dict of keyword arguments, got {options!r}.")
        return dict(options)

    def align(self, X, gene_names=None):
        """Reorder the columns of X to the model's genes (by name), or fail clearly.

        A DataFrame's columns or an AnnData's ``var_names`` name the genes when ``gene_names``
        is not given; a plain array must then have the model's genes in the model's order.
        """
        check_is_fitted(self, "method_")
        data, names = _unpack(X)
        X = check_matrix(data, "X")
        if gene_names is None and names is not None and hasattr(self, "feature_names_in_"):
            gene_names = names
        elif gene_names is None and names is not None and set(np.asarray(names).astype(str)) \
                >= set(self.gene_names_.tolist()):
            gene_names = names  # named columns that hold the model's genes
        if gene_names is None:
            if X.shape[1] != len(self.gene_names_):
                raise InputError(
                    f"X has {X.shape[1]} features, but CompressedSensing is expecting "
                    f"{len(self.gene_names_)} features as input (the model's genes); pass gene_names "
                    f"(or a DataFrame with gene columns) to align by name."
                )
            return X
        names = np.asarray(gene_names).astype(str)
        if names.shape != (X.shape[1],):
            raise InputError(
                f"gene_names has {names.size} entries but X has {X.shape[1]} genes (columns); give one "
                f"name per column of X, X being (n_samples, n_genes)."
            )
        return X[:, gene_positions(names, self.gene_names_, "the data")]

    def measure(self, X, *, snr=None, gene_names=None, random_state=None):
        """Simulate composite measurements Y (n_samples, n_measurements) of profiles X.

        Parameters
        ----------
        X : array-like, DataFrame, sparse matrix or AnnData of shape (n_samples, n_genes)
        snr : float, optional
            Signal-to-noise ratio of the added noise (default: the model's ``snr``; inf: none).
        gene_names : array-like of str, optional
            Names of X's columns, to match them to the model's genes (see :meth:`align`).
        random_state : int, RandomState, Generator or None
            Seed of the noise.

        Returns
        -------
        Y : ndarray of shape (n_samples, n_measurements)
            A DataFrame (columns ``m1``, ...) after ``set_output(transform="pandas")``.
        """
        index = getattr(X, "index", None) if hasattr(X, "columns") else None
        X = self.align(X, gene_names)
        Xp = self.preprocessor_.transform(X)
        Y = measure(Xp, self.design_, snr=self.snr if snr is None else snr, random_state=random_state)
        return self._output(Y, self.get_feature_names_out(), index)

    def measurement_marks(self) -> dict:
        """Provenance marks for a measurements file made with this model (see ``ExpressionData.attrs``)."""
        check_is_fitted(self, "method_")
        marks = {"csgene_design_sha256": design_fingerprint(self.design_), "csgene_space": self._space()}
        if getattr(self, "source_file_", None):
            marks["csgene_model"] = Path(self.source_file_).name
        return marks

    def _space(self) -> str:
        """The preprocessing its measurements are taken in, as step kinds (``"log1p"``, ``"none"``)."""
        return "+".join(step.kind for _, step in self.preprocessor_.steps)

    def check_measurement_marks(self, marks: dict, where) -> None:
        """Refuse measurements whose recorded design or preprocessing is not this model's.

        Files without a record (a lab's own measurements) are accepted.
        """
        marks = marks or {}
        space = marks.get("csgene_space")
        if space is not None and space != self._space():
            raise InputError(
                f"{str(where)!r} holds measurements of {'raw' if space == 'none' else space} profiles "
                f"(e.g. `csgene simulate --design-file`), but this model recovers from measurements of "
                f"{self._space()}-preprocessed profiles, A·f(x); recovering them gives wrong profiles. "
                f"Simulate them with this model (csgene simulate --model), or fit a model with "
                f"preprocess={space!r}."
            )
        recorded = marks.get("csgene_design_sha256")
        if recorded is None or recorded == design_fingerprint(self.design_):
            return
        made_by = marks.get("csgene_model")
        mine = f"{Path(self.source_file_).name}, " if getattr(self, "source_file_", None) else ""
        raise InputError(
            f"{str(where)!r} was measured with another design (sha256 {recorded[:12]}…"
            f"{f', model {made_by}' if made_by else ''}) than this model's ({mine}"
            f"{design_fingerprint(self.design_)[:12]}…); recovering it with this model gives "
            f"wrong profiles. Recover it with the model that made it"
            f"{f' (csgene recover {made_by} ...)' if made_by else ''}."
        )

    def recover(self, Y, *, space="original", library_size=None):
        """Recover profiles (n_samples, n_genes) from measurements Y (n_samples, n_measurements).

        The result depends on ``Y`` and the arguments only (no state of earlier calls).

        Parameters
        ----------
        Y : array-like or ExpressionData
            Measurements; an :class:`~csgene.io.ExpressionData` read from a file csgene wrote
            is checked against this model's design (:meth:`check_measurement_marks`).
        space : {"original", "preprocessed"}
            Units of the result: the data's (inverse of the preprocessing) or the model's.
            Original-space profiles are bounded by the training range: a log step's inverse
            clips each gene at its training maximum (+ log 2) in the log space, and when the
            training data were nonnegative (counts) profiles are clipped at 0.
        library_size : None, "mean", float or array-like of shape (n_samples,)
            Only for a ``log1p-cpm`` preprocessing: without it, original-space profiles are
            counts per million (the measurements do not hold library sizes); with it, counts
            (see :meth:`csgene.preprocess.Log1pCPM.inverse_transform`).

        Warns
        -----
        UserWarning
            When samples' measurements are far larger (:data:`FAR_MEASUREMENTS` times) than any
            training sample's: they were probably not made with this model's design and
            preprocessing, and their recoveries are extrapolations.
        """
        check_is_fitted(self, "method_")
        index = getattr(Y, "index", None) if hasattr(Y, "columns") else None
        if isinstance(Y, ExpressionData):  # read from a file: check the design it records
            self.check_measurement_marks(Y.attrs, Y.source)
            Y = Y.X[:, _measurement_order(Y.gene_names, Y.sample_names, self.design_.shape[0], Y.source)]
        elif hasattr(Y, "columns"):  # a DataFrame of measurements named m1..md: put them in design order
            Y = np.asarray(Y)[:, _measurement_order(np.asarray(Y.columns).astype(str), [],
                                                    self.design_.shape[0], "Y")]
        if space not in ("original", "preprocessed"):
            raise InputError(f"space must be 'original' or 'preprocessed', got {space!r}.")
        Y = check_matrix(Y, "Y (measurements)")
        if Y.shape[1] != self.design_.shape[0]:
            raise InputError(
                f"Y has {Y.shape[1]} measurements per sample but the model's design has "
                f"{self.design_.shape[0]}; Y must be (n_samples, n_measurements)."
            )
        self._warn_far_measurements(Y)
        Xp = self.method_.recover(Y)
        if space == "preprocessed":
            return self._output(Xp, self.gene_names_, index)
        bounds = getattr(self, "recovery_bounds_", None)
        if bounds is not None:
            Xp = np.clip(Xp, *bounds)
        X = self.preprocessor_.inverse_transform(Xp, library_size=library_size)
        return self._output(np.maximum(X, 0) if self.nonnegative_ else X, self.gene_names_, index)

    def _warn_far_measurements(self, Y: np.ndarray) -> None:
        reference = getattr(self, "measurement_norm_max_", None)
        if not reference or not Y.shape[0]:
            return
        ratio = np.linalg.norm(Y, axis=1) / reference
        far = ratio > FAR_MEASUREMENTS
        if far.any():
            warnings.warn(
                f"{int(far.sum())} of {Y.shape[0]} samples have measurements up to {ratio.max():.3g} times "
                f"larger than any training sample's: they are far outside what this model was trained "
                f"on (another design, units or preprocessing?). Their recoveries are extrapolations, "
                f"bounded by the training range in original units.",
                UserWarning, stacklevel=3,
            )

    # ------------------------------------------------------------------ persistence

    def save(self, path) -> Path:
        """Write the fitted model to an HDF5 file (atomically; no pickle).

        The file records the csgene version that wrote it and ``provenance_`` (training
        size, date, and the data file and its fingerprint when ``fit`` was given them).
        """
        check_is_fitted(self, "method_")
        if self.method not in SAVABLE_METHODS:
            raise InputError(
                f"saving method {self.method!r} to a model file is not supported; savable: "
                f"{', '.join(SAVABLE_METHODS)}."
            )
        path = Path(path)
        params = {k: (v if not isinstance(v, float) or np.isfinite(v) else str(v))
                  for k, v in self.get_params().items() if k != "design"}
        try:
            params_json = json.dumps(params)
        except TypeError as exc:
            raise InputError(f"the model's parameters cannot be saved ({exc}); method_options must "
                             f"hold plain values (numbers, strings, lists).") from exc
        with atomic_path(path) as tmp:
            with h5py.File(tmp, "w") as fh:
                fh.attrs["format"] = MODEL_FORMAT
                fh.attrs["format_version"] = MODEL_FORMAT_VERSION
                fh.attrs["csgene_version"] = __version__
                fh.attrs["params"] = params_json
                fh.attrs["provenance"] = json.dumps(getattr(self, "provenance_", None) or {})
                fh.create_dataset("gene_names", data=self.gene_names_.astype("S"))
                fh.create_dataset("design", data=self.design_)
                fh.attrs["nonnegative"] = self.nonnegative_
                fh.attrs["recovery_bounds"] = RECOVERY_BOUNDS_NOTE
                if getattr(self, "measurement_norm_max_", None) is not None:
                    fh.attrs["measurement_norm_max"] = self.measurement_norm_max_
                if getattr(self, "recovery_bounds_", None) is not None:
                    fh.create_dataset("recovery_low", data=self.recovery_bounds_[0])
                    fh.create_dataset("recovery_high", data=self.recovery_bounds_[1])
                _write_state(fh.create_group("preprocess"), self.preprocessor_.get_state())
                _write_state(fh.create_group("method"), self.method_.get_state())
                fh.attrs[CONTENT_HASH] = _content_hash(fh)
        return path

    @classmethod
    def load(cls, path) -> "CompressedSensing":
        """Read a model written by :meth:`save`.

        The loaded model also has ``source_file_``, ``csgene_version_`` (of the csgene that
        wrote it) and ``provenance_`` (empty for files written before csgene recorded it).
        """
        path = Path(path)
        if not path.exists():
            raise InputError(f"model file {path} does not exist; write one with `csgene fit`.")
        if path.is_dir():
            raise InputError(f"{path} is a folder, not a model file; give the .h5 file `csgene fit` wrote.")
        try:
            fh = h5py.File(path, "r")
        except OSError as exc:
            raise ModelFileError(f"{path} is not a readable HDF5 model file ({exc}).") from exc
        with fh:
            if fh.attrs.get("format") != MODEL_FORMAT:
                raise ModelFileError(f"{path} is not a csgene model file (no '{MODEL_FORMAT}' marker).")
            version = int(fh.attrs.get("format_version", -1))
            if version != MODEL_FORMAT_VERSION:
                raise ModelFileError(
                    f"{path} uses model format {version}, written by csgene "
                    f"{fh.attrs.get('csgene_version')}; this csgene ({__version__}) reads format "
                    f"{MODEL_FORMAT_VERSION}. Refit the model with this version."
                )
            recorded = fh.attrs.get(CONTENT_HASH)
            if recorded is not None and recorded != _content_hash(fh):
                raise ModelFileError(
                    f"{path} was changed after csgene wrote it (its content no longer matches the "
                    f"SHA-256 recorded at saving), so it is corrupt or was edited by hand. Refit it "
                    f"(csgene fit, or CompressedSensing.fit and save)."
                )
            try:
                params = json.loads(fh.attrs["params"])
                params = {k: (float(v) if v in ("inf", "-inf") else v) for k, v in params.items()}
                model = cls(**params)
                model.gene_names_ = np.asarray(fh["gene_names"][()]).astype(str)
                model.n_features_in_ = len(model.gene_names_)
                model.design_ = fh["design"][()]
                model.nonnegative_ = bool(fh.attrs.get("nonnegative", False))
                norm_max = fh.attrs.get("measurement_norm_max")
                model.measurement_norm_max_ = None if norm_max is None else float(norm_max)
                model.recovery_bounds_ = None
                if "recovery_low" in fh:
                    model.recovery_bounds_ = (fh["recovery_low"][()], fh["recovery_high"][()])
                    if any(b.shape != (len(model.gene_names_),) for b in model.recovery_bounds_):
                        raise ValueError("recovery_low/recovery_high do not have one value per gene")
                model.design = "given"
                model.preprocessor_ = PreprocessChain.from_state(_read_state(fh["preprocess"]))
                method = make_method(model.method, n_modules=model.n_modules, sparsity=model.sparsity,
                                     device=model.device, **model._method_options())
                model.method_ = method.set_state(_read_state(fh["method"]))
                model.source_file_ = str(path)
                # files written before provenance was recorded have none: only the writer's version
                model.provenance_ = json.loads(fh.attrs.get("provenance", "{}"))
                model.csgene_version_ = str(fh.attrs.get("csgene_version", "unknown"))
            except (KeyError, ValueError, TypeError) as exc:
                raise ModelFileError(f"{path} is corrupt or incomplete ({type(exc).__name__}: {exc}).") from exc
        return model


def _measurement_order(names, row_names, d: int, where) -> slice | np.ndarray:
    """Columns of a measurements file in design order: csgene names them m1..md (``csgene simulate``)
    or y0..y(d-1) (streaming); a file holding those names in another order is put back in order,
    and one whose rows carry them (measurements × samples) is refused."""
    names = np.asarray(names).astype(str)
    for canonical in ([f"m{i + 1}" for i in range(d)], [f"y{i}" for i in range(d)]):
        if set(np.asarray(row_names).astype(str).tolist()) == set(canonical) != set(names.tolist()):
            raise InputError(
                f"{str(where)!r} has the measurements ({canonical[0]}, ...) as rows: it is measurements × "
                f"samples, but measurements files are samples × measurements; transpose it."
            )
        if names.tolist() == canonical:
            return slice(None)
        if len(names) == d and set(names.tolist()) == set(canonical):
            position = {name: i for i, name in enumerate(names.tolist())}
            return np.array([position[name] for name in canonical], dtype=np.intp)
    return slice(None)


def _unpack(X):
    """(matrix, column names or None) of an array, a DataFrame or an AnnData.

    An AnnData (anything with ``var_names`` and ``X``, so anndata stays an optional extra)
    gives its ``X`` and ``var_names``; a DataFrame its values and string column names.
    """
    if hasattr(X, "var_names") and hasattr(X, "X") and hasattr(X, "obs_names"):
        if X.X is None:
            raise InputError("the AnnData has no X matrix; put the expression matrix in adata.X.")
        return X.X, np.asarray(X.var_names).astype(str)
    columns = getattr(X, "columns", None)
    if columns is not None and hasattr(X, "iloc"):
        names = np.asarray(columns)
        if names.size and all(isinstance(c, str) for c in names.tolist()):
            return X, names.astype(str)
    return X, None


def _looks_like_names(values) -> bool:
    """Whether an argument given as ``y`` is a list of gene names (the pre-scikit-learn call)."""
    try:
        arr = np.asarray(values)
    except (TypeError, ValueError):
        return False
    return arr.ndim == 1 and arr.size > 0 and arr.dtype.kind in "US"


def _check_provenance(provenance) -> dict:
    if provenance is None:
        return {}
    if not isinstance(provenance, dict) or not all(isinstance(k, str) for k in provenance):
        raise InputError(f"provenance must be a dict with str keys, got {provenance!r}.")
    try:
        json.dumps(provenance)
    except TypeError as exc:
        raise InputError(f"provenance must hold plain values (str, numbers, lists) to be saved ({exc}).") from exc
    return dict(provenance)


def _gene_names(gene_names, n_genes: int) -> np.ndarray:
    if gene_names is None:
        return np.array([f"gene{i}" for i in range(n_genes)])
    names = np.asarray(gene_names).astype(str)
    if names.shape != (n_genes,):
        raise InputError(f"gene_names has {names.size} entries but X has {n_genes} genes.")
    if len(set(names)) != n_genes:
        raise InputError("gene_names contains duplicates; gene names must be unique.")
    return names


def _content_hash(fh) -> str:
    """SHA-256 of every dataset and attribute of a model file but the hash itself."""
    digest = hashlib.sha256()
    names = [""]
    fh.visit(names.append)
    for name in sorted(names):
        obj = fh[name] if name else fh
        if isinstance(obj, h5py.Dataset):
            value = np.asarray(obj[()])
            digest.update(f"{name}|{value.dtype.str}|{value.shape}|".encode())
            digest.update(value.tobytes() if value.dtype != object else repr(value.tolist()).encode())
        for key in sorted(obj.attrs):
            if name or key != CONTENT_HASH:
                digest.update(f"{name}@{key}={obj.attrs[key]!r}|".encode())
    return digest.hexdigest()


def _write_state(group, state: dict) -> None:
    for key, value in state.items():
        if value is None:
            continue
        if isinstance(value, str):
            group.attrs[key] = value
        else:
            group.create_dataset(key, data=np.asarray(value))


def _read_state(group) -> dict:
    state = {key: group[key][()] for key in group}
    state.update({key: value for key, value in group.attrs.items()})
    return state


__all__ = ["CompressedSensing", "DictionaryMethod"]
