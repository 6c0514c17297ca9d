"""The compressed-sensing pipeline: preprocessing + dictionary + design + decoder, one object.

>>> from csgene import CompressedSensing
>>> from csgene.datasets import make_expression
>>> data = make_expression(n_samples=300, n_genes=200, n_modules=10, random_state=0)
>>> cs = CompressedSensing("smaf", n_measurements=50, preprocess="log1p", random_state=0)
>>> cs = cs.fit(data.counts[:250], gene_names=data.gene_names)
>>> Y = cs.measure(data.counts[250:], snr=10, random_state=1)   # a lab's composite measurements
>>> X_hat = cs.recover(Y)                                         # (50, 200) in counts

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
from pathlib import Path

import h5py
import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from ._atomic import atomic_path
from ._random import check_seed
from ._validation import check_matrix, check_positive_int, check_snr, gene_positions
from ._version import __version__
from .exceptions import InputError, ModelFileError
from .io import ExpressionData
from .measure import design_fingerprint, make_design, measure
from .methods import SAVABLE_METHODS, DictionaryMethod, make_method
from .preprocess import PreprocessChain, make_preprocessor

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


class CompressedSensing(BaseEstimator):
    """Learn from full profiles, then recover whole profiles from composite measurements.

    Parameters
    ----------
    method : str
        A method of :data:`csgene.methods.METHODS` (``"smaf"``, ``"snmf"``, ``"ksvd"``,
        ``"svd"``, ``"ridge"``, ``"gaussian"``, ...).
    n_measurements : int
        Composite measurements d per sample.
    design : str or array-like of shape (n_measurements, n_genes)
        Design kind for :func:`csgene.measure.make_design`, or a given design matrix.
    preprocess : str
        Preprocessing chain (:func:`csgene.preprocess.make_preprocessor`), e.g. ``"log1p"``.
    n_modules : int, optional
        Dictionary size (default min(1.5·n_train, 150)).
    sparsity : int
        Active modules per sample (k).
    snr : float
        Noise level the design-dependent parts train for (ridge, neural decoders).
    random_state : int or None
    device : {"cpu", "cuda", "auto"}
        Where the kernels and neural models run ("auto": CUDA only when a GPU is really there).
    method_options : dict, optional
        Extra constructor arguments: the neural model's, e.g. ``{"max_epochs": 20}`` for ``"mlp"``
        or ``{"latent_dim": 10, "n_restarts": 5}`` for ``"vae"``; for the dictionary methods,
        :class:`DictionaryMethod`'s (``decoder``, ``ridge``, ...); for ridge and gaussian, their
        baseline's. Plain values only: they are saved with the model.

    Attributes
    ----------
    preprocessor_ : PreprocessChain
    method_ : fitted method
    design_ : ndarray (n_measurements, n_genes)
    gene_names_ : ndarray of str
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
    ):
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

    def fit(self, X, gene_names=None):
        """Fit preprocessing, method and design on training profiles X (n_samples, n_genes)."""
        X = check_matrix(X, "X", min_rows=2)
        rng = self._start_fit(X.shape, gene_names)
        self.nonnegative_ = bool(X.min() >= 0)
        Xp = self.preprocessor_.fit_transform(X)
        self.measurement_norm_max_ = float(np.linalg.norm(Xp @ self.design_.T, axis=1).max())
        low, high = Xp.min(axis=0), Xp.max(axis=0)
        self.recovery_bounds_ = (low - (high - low), high + (high - low))
        self.method_.fit(Xp)
        self.method_.fit_design(self.design_, snr=self.snr, random_state=int(rng.integers(2**31 - 1)))
        return self

    def _start_fit(self, shape, gene_names):
        """What a fit does before it sees values: names, design, unfitted preprocessing and method.

        Shared with the out-of-core fit (:mod:`csgene.outofcore`), so both draw the same design
        and method seeds. Returns the generator whose next draw seeds ``fit_design``.
        """
        n_samples, n_genes = shape
        self.gene_names_ = _gene_names(gene_names, n_genes)
        check_snr(self.snr)
        if isinstance(self.random_state, (int, np.integer)):
            check_seed(self.random_state, "random_state")
        rng = np.random.default_rng(self.random_state)
        self.preprocessor_ = make_preprocessor(self.preprocess)
        if isinstance(self.design, str):
            d = check_positive_int(self.n_measurements, "n_measurements")
            self.design_ = make_design(self.design, d, n_genes, random_state=rng)
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

    def _method_options(self) -> dict:
        options = self.method_options or {}
        if not isinstance(options, dict) or not all(isinstance(k, str) for k in options):
            raise InputError(f"method_options must be a dict of keyword arguments, got {options!r}.")
        return dict(options)

    def align(self, X, gene_names=None):
        """Reorder the columns of X to the model's genes (by name), or fail clearly."""
        check_is_fitted(self, "method_")
        X = check_matrix(X, "X")
        if gene_names is None:
            if X.shape[1] != len(self.gene_names_):
                raise InputError(
                    f"X has {X.shape[1]} genes but the model has {len(self.gene_names_)}; pass "
                    f"gene_names to align by name."
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
        """Simulate composite measurements Y (n_samples, n_measurements) of profiles X."""
        X = self.align(X, gene_names)
        Xp = self.preprocessor_.transform(X)
        return measure(Xp, self.design_, snr=self.snr if snr is None else snr, random_state=random_state)

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
        if isinstance(Y, ExpressionData):  # read from a file: check the design it records
            self.check_measurement_marks(Y.attrs, Y.source)
            Y = Y.X[:, _measurement_order(Y.gene_names, Y.sample_names, self.design_.shape[0], Y.source)]
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
            return Xp
        bounds = getattr(self, "recovery_bounds_", None)
        if bounds is not None:
            Xp = np.clip(Xp, *bounds)
        X = self.preprocessor_.inverse_transform(Xp, library_size=library_size)
        return np.maximum(X, 0) if self.nonnegative_ else X

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
        """Write the fitted model to an HDF5 file (atomically; no pickle)."""
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
        """Read a model written by :meth:`save`."""
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
