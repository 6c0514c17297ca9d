"""Methods of the compressed-sensing experiment, behind one protocol and one registry.

Every method works in the (preprocessed) space of its training profiles and has three steps:

``fit(X_train)``
    Design-independent training: learn a dictionary, a generator, a prior. Done once per
    train/test split and reused for every number of measurements.
``fit_design(A, snr=inf, random_state=None)``
    Design-dependent preparation: the effective dictionary A·Uᵀ, a supervised decoder trained
    on measurements simulated with this design and noise level.
``recover(Y)``
    Measurements (n_samples, n_measurements) → profiles (n_samples, n_genes).

:data:`REGISTRY` maps each method's name to a :class:`MethodEntry`; :func:`make_method` builds
a method by name, and every list of names (:data:`METHODS`, :data:`CLASSICAL_METHODS`,
:data:`NEURAL_METHODS`, :data:`REFERENCE_METHODS`, :data:`SAVABLE_METHODS`,
:func:`default_methods`, the command line's choices and help) is read from the registry.
Adding a method is one entry here plus its class (CONTRIBUTING.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ._optional import available
from .dictionary_method import DictionaryMethod
from .exceptions import InputError

#: SMAF learner settings of the paper's experiment script (``direct_vs_distributed.py``): they
#: recover better than the reference's documented example on held-out ARCHS4 under every decoder
#: we tried (benchmarks/RESULTS.md). The training sparsity is λ₁ = 5 (recovery still uses k).
PAPER_SMAF = {"lda2": 5e-4, "module_size_bound": "paper", "min_sparsity": 3}
PAPER_SMAF_SPARSITY = 5
#: Cleary et al.'s decoder: plain k-sparse OMP, no noise-aware stop, no shrinkage.
PLAIN_OMP = {"decoder": "omp", "noise_aware": False, "shrink": False}


def default_n_modules(n_train: int) -> int:
    """The seed paper's rule: min(1.5·n_train, 150) modules, at least 2."""
    return int(max(2, min(round(1.5 * n_train), 150)))


@dataclass(frozen=True)
class MethodEntry:
    """What the registry knows about one method.

    Attributes
    ----------
    factory : callable
        ``factory(n_modules=, sparsity=, random_state=, device=, **options)`` → an unfitted method.
    description : str
        One line, for the command line's help.
    savable : bool
        ``CompressedSensing.save`` can write it to a model file.
    needs_torch : bool
        Needs the ``nn`` extra (torch).
    in_default_run : bool
        Run by ``csgene run`` without ``--methods`` (when its dependencies are installed).
    """

    factory: Callable
    description: str
    savable: bool = True
    needs_torch: bool = False
    in_default_run: bool = True


# --------------------------------------------------------------------------------- factories

def _dictionary(name, learner, sparsity, device, options):
    return DictionaryMethod(learner, sparsity=sparsity, name=name, device=device, **options)


def _smaf(name, *, center=False, reference=False):
    def factory(*, n_modules, sparsity, random_state, device, **options):
        from .dictionary import SMAF

        learner = SMAF(n_modules, sparsity=min(PAPER_SMAF_SPARSITY, sparsity), random_state=random_state,
                       center=center, device=device,
                       **dict(PAPER_SMAF, min_sparsity=min(PAPER_SMAF["min_sparsity"], sparsity)))
        if reference:
            options = {**PLAIN_OMP, **options}
        return _dictionary(name, learner, sparsity, device, options)

    return factory


def _mean(*, n_modules, sparsity, random_state, device, **options):
    from .baselines import MeanProfile

    return MeanProfile(**options)


def _ridge(*, n_modules, sparsity, random_state, device, **options):
    from .baselines import RidgeDecoder

    return RidgeDecoder(random_state=random_state, **options)


def _gaussian(*, n_modules, sparsity, random_state, device, **options):
    from .baselines import GaussianPrior

    return GaussianPrior(random_state=random_state, **options)


def _svd(*, n_modules, sparsity, random_state, device, **options):
    from .dictionary import SVDDictionary

    return _dictionary("svd", SVDDictionary(n_modules, random_state=random_state), sparsity, device, options)


def _topk_svd(*, n_modules, sparsity, random_state, device, **options):
    from .dictionary import TopKSVD

    # the decoder keeps DictionaryMethod's default sparsity: TopKSVD decodes by least squares
    learner = TopKSVD(sparsity=sparsity, random_state=random_state)
    return DictionaryMethod(learner, name="topk-svd", device=device, **options)


def _ksvd(*, n_modules, sparsity, random_state, device, **options):
    from .dictionary import KSVD

    learner = KSVD(n_modules, sparsity=sparsity, random_state=random_state, device=device)
    return _dictionary("ksvd", learner, sparsity, device, options)


#: ``snmf`` options that go to its :class:`~csgene.dictionary.SparseNMF` (the rest to the method).
SNMF_LEARNER_OPTIONS = ("solver", "l1_activities", "l1_components", "max_iter", "tol")


def _snmf(*, n_modules, sparsity, random_state, device, **options):
    from .dictionary import SparseNMF

    learner_options = {k: options.pop(k) for k in SNMF_LEARNER_OPTIONS if k in options}
    learner = SparseNMF(n_modules, random_state=random_state, device=device, **learner_options)
    return _dictionary("snmf", learner, sparsity, device, options)


def _snmf_reference(*, n_modules, sparsity, random_state, device, **options):
    from .dictionary import SparseNMF

    learner = SparseNMF(n_modules, l1_activities=0.0, random_state=random_state, device=device)
    return _dictionary("snmf-reference", learner, sparsity, device, {**PLAIN_OMP, **options})


def _neural(class_name, *, dictionary_size=False):
    def factory(*, n_modules, sparsity, random_state, device, **options):
        from . import neural  # imports torch lazily, with a clear error when it is missing

        cls = getattr(neural, class_name)
        if dictionary_size:
            return cls(n_modules, sparsity=sparsity, random_state=random_state, device=device, **options)
        return cls(random_state=random_state, device=device, **options)

    return factory


# ---------------------------------------------------------------------------------- registry

#: name → :class:`MethodEntry`, in the order tables list the methods: classical (numpy/Numba
#: only), neural (torch), then the reference presets.
REGISTRY: dict[str, MethodEntry] = {
    "mean": MethodEntry(_mean, "the training mean profile, whatever the measurements (baseline)"),
    "ridge": MethodEntry(_ridge, "ridge regression from measurements to profiles (baseline)"),
    "gaussian": MethodEntry(_gaussian, "posterior mean under a low-rank Gaussian prior (baseline)"),
    "svd": MethodEntry(_svd, "SVD dictionary (principal directions of the training profiles)"),
    "topk-svd": MethodEntry(_topk_svd, "the seed's dictionary: the top-k singular vectors"),
    "ksvd": MethodEntry(_ksvd, "K-SVD dictionary (Aharon et al. 2006)"),
    "snmf": MethodEntry(_snmf, "sparse nonnegative matrix factorization modules"),
    "smaf": MethodEntry(_smaf("smaf"), "SMAF modules (Cleary et al. 2017)"),
    "smaf-centered": MethodEntry(_smaf("smaf-centered", center=True),
                                 "SMAF on deviations from the mean profile"),
    "mlp": MethodEntry(_neural("MeasurementMLP"), "MLP from measurements to profiles", needs_torch=True),
    "smaf+mlp": MethodEntry(_neural("SMAFStack", dictionary_size=True),
                            "SMAF recovery refined by an MLP", savable=False, needs_torch=True),
    "vae": MethodEntry(_neural("VAEPrior"), "VAE generative prior (Bora et al. 2017)", needs_torch=True),
    "gan": MethodEntry(_neural("GANPrior"), "GAN generative prior (Bora et al. 2017)", needs_torch=True),
    # Cleary et al. 2017's exact settings, for comparison with their code (not run by default):
    # SMAF with λ₁ = 5, λ₂ = 5e-4, module bound n_genes/10, mink = 3, and plain NMF (no L1), both
    # decoded by plain k-sparse OMP on A·Uᵀ.
    "smaf-reference": MethodEntry(_smaf("smaf-reference", reference=True),
                                  "Cleary et al.'s SMAF and plain OMP decoder", in_default_run=False),
    "snmf-reference": MethodEntry(_snmf_reference, "Cleary et al.'s plain NMF and plain OMP decoder",
                                  in_default_run=False),
}

#: Every method's name.
METHODS = tuple(REGISTRY)
#: Classical methods (numpy/Numba only), in the order tables list them.
CLASSICAL_METHODS = tuple(n for n, e in REGISTRY.items() if e.in_default_run and not e.needs_torch)
#: Methods that need torch (extra ``nn``).
NEURAL_METHODS = tuple(n for n, e in REGISTRY.items() if e.needs_torch)
#: Cleary et al. 2017's exact settings, for comparison with their code (not run by default).
REFERENCE_METHODS = tuple(n for n, e in REGISTRY.items() if not e.in_default_run)
#: Methods ``CompressedSensing.save`` can write to a model file.
SAVABLE_METHODS = tuple(n for n, e in REGISTRY.items() if e.savable)


def default_methods() -> tuple[str, ...]:
    """The methods of a default run: all but the reference presets, the neural ones only with torch."""
    torch = available("torch")
    return tuple(n for n, e in REGISTRY.items() if e.in_default_run and (torch or not e.needs_torch))


def describe_methods() -> str:
    """One line per method, ``name  description``, for help texts."""
    width = max(map(len, METHODS))
    lines = []
    for name, entry in REGISTRY.items():
        notes = [note for note, applies in (("extra nn", entry.needs_torch),
                                             ("not run by default", not entry.in_default_run)) if applies]
        lines.append(f"  {name:<{width}}  {entry.description}" + (f" ({'; '.join(notes)})" if notes else ""))
    return "\n".join(lines)


def make_method(
    name: str,
    *,
    n_modules: int | None = None,
    sparsity: int = 15,
    n_train: int | None = None,
    random_state=None,
    device: str = "cpu",
    **options,
):
    """Build a method of the experiment by name.

    Parameters
    ----------
    name : str
        One of :data:`METHODS`.
    n_modules : int, optional
        Dictionary size; default :func:`default_n_modules` of ``n_train``.
    sparsity : int
        Active modules per sample (k).
    n_train : int, optional
        Number of training samples, for the default dictionary size.
    random_state : int or None
    device : {"cpu", "cuda", "auto"}
        Where kernels (decoders, dictionary learners) and torch models run; "auto" picks CUDA
        only when a GPU is really there.
    **options
        Passed to the method's constructor.
    """
    if name not in REGISTRY:
        raise InputError(f"unknown method {name!r}; available: {', '.join(METHODS)}.")
    if n_modules is None:
        n_modules = default_n_modules(n_train or 100)
    try:
        return REGISTRY[name].factory(n_modules=n_modules, sparsity=sparsity, random_state=random_state,
                                      device=device, **options)
    except TypeError as exc:
        if "unexpected keyword" not in str(exc):
            raise
        raise InputError(f"method {name!r} does not take option(s) {sorted(options)} ({exc}); see its "
                         f"class's parameters.") from exc


__all__ = ["REGISTRY", "MethodEntry", "METHODS", "CLASSICAL_METHODS", "NEURAL_METHODS", "REFERENCE_METHODS",
           "SAVABLE_METHODS", "DictionaryMethod", "default_methods", "describe_methods", "default_n_modules",
           "make_method"]
