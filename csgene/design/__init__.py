"""Measurement designs: drawn at random, or learned from training profiles.

A design ``A`` has shape (n_measurements, n_genes): row ``m`` holds the weight of every gene in
composite measurement ``m``. :func:`make_design` builds any of :data:`DESIGNS` by name.

Random designs (:mod:`csgene.design.random`, :mod:`csgene.design.landmarks`):
``gaussian``, ``gaussian-unit``, ``nonnegative``, ``binary-pools``, ``landmarks-random``.

Designs learned from training profiles, in the space the decoders work in (pass ``X_train``
and the ``snr`` the measurements will have):

``learned`` (:mod:`csgene.design.learned`)
    Nonnegative probe mixtures spanning the most informative subspace under a Gaussian prior.
``learned-pools`` (:mod:`csgene.design.pools`)
    0/1 pools under ``binary-pools``' limits, searched to recover the most variance.
``landmarks`` (:mod:`csgene.design.landmarks`)
    d single genes chosen greedily to predict all genes best (L1000-style).
``best-of-random-pools`` (:mod:`csgene.design.best_of_random`)
    CISI's best of 2,000 random pool designs by simulated recovery on a validation split.

Each learned design is scored under :class:`~csgene.design.prior.DesignPrior`;
:meth:`~csgene.design.prior.DesignPrior.recovered_fraction` reports the share of profile variance a design recovers under it.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .._validation import check_matrix, check_positive_int
from ..exceptions import InputError
from .best_of_random import best_of_random_pools
from .files import read_design_csv, read_design_provenance, write_design_csv
from .landmarks import landmark_design, random_landmark_design
from .learned import learned_design
from .pools import learned_pool_design
from .prior import DesignPrior
from .random import binary_pool_design, gaussian_design, gaussian_unit_design, nonnegative_design


@dataclass(frozen=True)
class DesignEntry:
    """One design kind: how it is built and what it needs.

    Attributes
    ----------
    build : callable
        ``build(n_measurements, n_genes, *, random_state, **options)`` for random designs;
        ``build(prior, n_measurements, *, random_state, **options)`` for designs learned under
        the Gaussian prior; ``build(X_train, n_measurements, *, snr, random_state, **options)``
        for designs scored on the training profiles themselves.
    learns_from : {None, "prior", "profiles"}
        What the design is learned from (None: nothing, it is random).
    description : str
        One line for ``--help``.
    """

    build: Callable[..., np.ndarray]
    learns_from: str | None
    description: str


DESIGNS: dict[str, DesignEntry] = {
    "gaussian": DesignEntry(gaussian_design, None, "i.i.d. N(0, 1) weights (Cleary et al. 2017)"),
    "gaussian-unit": DesignEntry(gaussian_unit_design, None, "unit-norm Gaussian rows with bounded correlation"),
    "nonnegative": DesignEntry(nonnegative_design, None, "i.i.d. uniform [0, 1) weights"),
    "binary-pools": DesignEntry(binary_pool_design, None, "balanced random 0/1 pools, each gene in 3"),
    "landmarks-random": DesignEntry(random_landmark_design, None, "d single genes drawn at random"),
    "learned": DesignEntry(learned_design, "prior", "nonnegative mixtures learned from the training profiles"),
    "learned-pools": DesignEntry(learned_pool_design, "prior", "0/1 pools learned from the training profiles"),
    "landmarks": DesignEntry(landmark_design, "prior", "d single genes chosen to predict the rest best"),
    "best-of-random-pools": DesignEntry(best_of_random_pools, "profiles",
                                        "best of 2,000 random pool designs by simulated recovery (CISI)"),
}

#: Designs that need a gene of their own per measurement, so d cannot exceed the genes.
_ONE_GENE_PER_ROW = ("landmarks", "landmarks-random")


def is_learned(kind: str) -> bool:
    """Whether design ``kind`` is learned from training profiles (needs ``X_train``)."""
    return _entry(kind).learns_from is not None


def design_options(kind: str) -> list[str]:
    """The keyword options design ``kind`` accepts (besides ``random_state``)."""
    return [
        name for name, p in inspect.signature(_entry(kind).build).parameters.items()
        if p.kind is p.KEYWORD_ONLY and name not in ("random_state", "snr", "return_scores")
    ]


def make_design(kind: str, n_measurements: int, n_genes: int | None = None, random_state=None, *,
                X_train=None, snr: float = math.inf, prior: DesignPrior | None = None, **options) -> np.ndarray:
    """Build a design by name.

    Parameters
    ----------
    kind : str
        One of :data:`DESIGNS`.
    n_measurements : int
    n_genes : int, optional
        Number of genes; taken from ``X_train`` when omitted for a learned design.
    random_state : int, numpy Generator/RandomState or None
    X_train : array-like of shape (n_samples, n_genes), optional
        Training profiles in the space the decoders work in; required by learned designs
        (never pass test samples: the design would have seen them).
    snr : float
        SNR of the profile noise the measurements will have (learned designs only).
    prior : DesignPrior, optional
        A prior already fitted to ``X_train`` at ``snr``, to learn several designs without
        refitting it (learned designs only).
    **options
        Options of the design (e.g. ``pools_per_gene``, ``max_weight_ratio``).

    Returns
    -------
    A : ndarray of shape (n_measurements, n_genes)

    Examples
    --------
    >>> from csgene.design import make_design
    >>> make_design("binary-pools", 10, 40, random_state=0, pools_per_gene=2).sum(axis=0)[:3]
    array([2., 2., 2.])
    """
    entry = _entry(kind)
    accepted = design_options(kind)
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise InputError(
            f"design {kind!r} does not take option(s) {', '.join(unknown)}; its options are: "
            f"{', '.join(accepted) or 'none'}."
        )
    if entry.learns_from is None:
        if n_genes is None:
            n_genes = check_matrix(X_train, "X_train").shape[1] if X_train is not None else None
        if n_genes is None:
            raise InputError(f"design {kind!r} needs n_genes (the number of genes it measures).")
        _check_fits(kind, n_measurements, n_genes)
        return entry.build(n_measurements, n_genes, random_state=random_state, **options)
    if X_train is None and not (entry.learns_from == "prior" and prior is not None):
        raise InputError(
            f"design {kind!r} is learned from training profiles: pass X_train= (n_samples, n_genes) "
            f"in the space the decoders work in; on the command line it is learned from --data."
        )
    if X_train is not None:
        X_train = check_matrix(X_train, "X_train")
    width = X_train.shape[1] if X_train is not None else prior.n_genes
    if n_genes is not None and n_genes != width:
        raise InputError(f"n_genes={n_genes} but the training profiles have {width} genes; omit n_genes.")
    _check_fits(kind, n_measurements, width)
    if entry.learns_from == "profiles":
        return entry.build(X_train, n_measurements, snr=snr, random_state=random_state, **options)
    if prior is None:
        prior = DesignPrior.fit(X_train, snr, random_state=random_state)
    return entry.build(prior, n_measurements, random_state=random_state, **options)


def _entry(kind: str) -> DesignEntry:
    if kind not in DESIGNS:
        raise InputError(f"unknown design {kind!r}; choose one of {', '.join(DESIGNS)}.")
    return DESIGNS[kind]


def _check_fits(kind: str, n_measurements, n_genes: int) -> None:
    d = check_positive_int(n_measurements, "n_measurements")
    learned = DESIGNS[kind].learns_from is not None
    if d > n_genes and (learned or kind in _ONE_GENE_PER_ROW):
        raise InputError(
            f"design {kind!r} cannot have more measurements ({d}) than genes ({n_genes}): "
            f"{'each measurement is one gene' if kind in _ONE_GENE_PER_ROW else 'the extra rows carry no information'}. "
            f"Use at most {n_genes} measurements (--measurements)."
        )


__all__ = [
    "DESIGNS", "DesignEntry", "DesignPrior", "make_design", "is_learned", "design_options",
    "read_design_csv", "read_design_provenance", "write_design_csv", "gaussian_design",
    "gaussian_unit_design", "nonnegative_design", "binary_pool_design", "learned_design",
    "learned_pool_design", "landmark_design", "random_landmark_design", "best_of_random_pools",
]
