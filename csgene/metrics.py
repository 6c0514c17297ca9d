"""Accuracy of recovered expression profiles, as defined in DESIGN.md.

All metrics take the true profiles ``X`` and the recovered ``X_hat`` as arrays of shape
(n_samples, n_genes), are vectorised (blocks of rows, never a Python loop per sample) and
accumulate in float64 whatever the input dtype.

Constant rows or columns
    A correlation is undefined when one side has zero variance. Units (samples or genes)
    whose **true** values are constant are skipped and counted. Units whose true values vary
    but whose **recovered** values are constant carry no information about the truth: by
    default (``constant_prediction="zero"``) they score 0, so a decoder cannot raise its
    score by giving up on hard samples; ``constant_prediction="skip"`` skips and counts
    them too. If every unit is skipped the score is 0.0 (with ``n_skipped`` equal to the
    number of units), never NaN.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata

from ._random import check_random_state
from ._validation import check_matrix, check_positive_int
from .exceptions import InputError

__all__ = [
    "pearson_sample",
    "pearson_sample_centered",
    "pearson_gene",
    "spearman_sample",
    "spearman_gene",
    "distance_corr",
    "measurement_distance_corr",
    "evaluate",
    "DEFAULT_MAX_PAIRS",
]

#: Above this many sample pairs (about 2,000 samples), distance correlations use a seeded
#: random subset of samples; pass ``max_pairs`` to change it.
DEFAULT_MAX_PAIRS = 2_000_000

#: Elements (float64) per block when correlating rows: bounds temporary memory to ~32 MB.
_BLOCK_ELEMENTS = 1 << 22

_CONSTANT_PREDICTION_MODES = ("zero", "skip")

#: The metrics of :func:`evaluate`, in the order of its result.
_METRIC_NAMES = ("pearson_sample", "pearson_sample_centered", "distance_corr", "pearson_gene",
                 "spearman_sample", "spearman_gene")


# -- input checks ---------------------------------------------------------------------------
def _check_pair(X, X_hat, x_name: str = "X", x_hat_name: str = "X_hat"):
    X = check_matrix(X, x_name)
    X_hat = check_matrix(X_hat, x_hat_name)
    if X.shape != X_hat.shape:
        raise InputError(
            f"{x_name} has shape {X.shape} but {x_hat_name} has shape {X_hat.shape}; both must be "
            f"(n_samples, n_genes) with the same samples and genes in the same order."
        )
    return X, X_hat


def _check_mode(constant_prediction: str) -> None:
    if constant_prediction not in _CONSTANT_PREDICTION_MODES:
        raise InputError(
            f"constant_prediction must be one of {_CONSTANT_PREDICTION_MODES}, got "
            f"{constant_prediction!r}."
        )


def _check_mean_profile(mean_profile, n_genes: int) -> np.ndarray:
    profile = np.asarray(mean_profile, dtype=np.float64) if mean_profile is not None else None
    if profile is None or profile.size != n_genes or profile.ndim > 2 or (
        profile.ndim == 2 and profile.shape[0] != 1
    ):
        shape = None if profile is None else profile.shape
        raise InputError(
            f"mean_profile must have shape ({n_genes},) (the training mean of each gene), got "
            f"{shape}. Pass X_train.mean(axis=0)."
        )
    profile = profile.reshape(-1)
    if not np.all(np.isfinite(profile)):
        raise InputError("mean_profile contains NaN or infinite values; pass X_train.mean(axis=0).")
    return profile


# -- correlation core -----------------------------------------------------------------------
def _row_correlations(A: np.ndarray, B: np.ndarray, *, rank: bool = False,
                      center: np.ndarray | None = None):
    """Pearson (or Spearman) correlation of each row of ``A`` with the same row of ``B``.

    ``center`` (a profile subtracted from every row) is used only without ``rank``.

    Returns ``(r, a_constant, b_constant)``; ``r`` is 0 where either row is constant.
    ``A`` and ``B`` may be transposed views; rows are processed in float64 blocks.
    """
    n_rows, n_cols = A.shape
    block = max(1, _BLOCK_ELEMENTS // max(n_cols, 1))
    r = np.zeros(n_rows)
    a_constant = np.zeros(n_rows, dtype=bool)
    b_constant = np.zeros(n_rows, dtype=bool)
    for start in range(0, n_rows, block):
        rows = slice(start, min(start + block, n_rows))
        r[rows], a_constant[rows], b_constant[rows] = _block_correlations(
            A[rows], B[rows], rank=rank, center=center
        )
    return r, a_constant, b_constant


def _block_correlations(a, b, *, rank: bool, center):
    if rank:
        # Ranks are exact in the input dtype, and sorting float32 is faster than float64.
        a, b = np.ascontiguousarray(a), np.ascontiguousarray(b)
    else:
        a = np.array(a, dtype=np.float64, order="C")
        b = np.array(b, dtype=np.float64, order="C")
        if center is not None:
            a -= center
            b -= center
    # Exact test for "constant": centring a constant row may leave rounding residue.
    a_constant = np.ptp(a, axis=1) == 0
    b_constant = np.ptp(b, axis=1) == 0
    if rank:
        a = rankdata(a, axis=1).astype(np.float64, copy=False)
        b = rankdata(b, axis=1).astype(np.float64, copy=False)
    a = _centre_and_normalise(a)
    b = _centre_and_normalise(b)
    numerator = np.einsum("ij,ij->i", a, b)
    denominator = np.sqrt(np.einsum("ij,ij->i", a, a) * np.einsum("ij,ij->i", b, b))
    valid = ~a_constant & ~b_constant & (denominator > 0)
    r = np.divide(numerator, denominator, out=np.zeros_like(numerator), where=valid)
    return np.clip(r, -1.0, 1.0), a_constant | ~(valid | b_constant), b_constant & ~a_constant


def _centre_and_normalise(a: np.ndarray) -> np.ndarray:
    """Centre each row and divide it by its largest magnitude (avoids under/overflow in sums)."""
    a -= a.mean(axis=1, keepdims=True)
    peak = np.abs(a).max(axis=1, keepdims=True)
    return np.divide(a, peak, out=a, where=peak > 0)


def _summarise(r, true_constant, pred_constant, constant_prediction: str, return_skipped: bool):
    skipped = true_constant | pred_constant if constant_prediction == "skip" else true_constant
    n_skipped = int(skipped.sum())
    kept = r[~skipped]
    score = float(kept.mean()) if kept.size else 0.0
    return (score, n_skipped) if return_skipped else score


def _correlate(X, X_hat, *, axis: int, rank: bool = False, center=None,
               constant_prediction: str = "zero", return_skipped: bool = False):
    _check_mode(constant_prediction)
    # ``center`` is a per-gene profile, so it only applies to per-sample rows (axis=1).
    A, B = (X, X_hat) if axis == 1 else (X.T, X_hat.T)
    r, true_constant, pred_constant = _row_correlations(A, B, rank=rank, center=center)
    return _summarise(r, true_constant, pred_constant, constant_prediction, return_skipped)


_SKIP_DOC = """
    constant_prediction : {"zero", "skip"}, default="zero"
        How units whose true values vary but whose recovered values are constant count:
        as correlation 0, or skipped (and counted in ``n_skipped``). Units with constant
        true values are always skipped.
    return_skipped : bool, default=False
        Also return the number of skipped units.

    Returns
    -------
    score : float
        Mean correlation over the units not skipped; 0.0 when all are skipped.
    n_skipped : int
        Only with ``return_skipped=True``.
"""


# -- public metrics -------------------------------------------------------------------------
def pearson_sample(X, X_hat, *, constant_prediction="zero", return_skipped=False):
    """Mean over samples of the Pearson correlation between true and recovered profiles.

    Parameters
    ----------
    X, X_hat : array-like of shape (n_samples, n_genes)
        True and recovered profiles.
    """
    X, X_hat = _check_pair(X, X_hat)
    return _correlate(X, X_hat, axis=1, constant_prediction=constant_prediction,
                      return_skipped=return_skipped)


def pearson_sample_centered(X, X_hat, mean_profile, *, constant_prediction="zero",
                            return_skipped=False):
    """:func:`pearson_sample` after subtracting the training mean profile from both sides.

    Measures what was recovered beyond the average sample: predicting ``mean_profile`` for
    every sample scores high :func:`pearson_sample` but 0 here.

    Parameters
    ----------
    X, X_hat : array-like of shape (n_samples, n_genes)
    mean_profile : array-like of shape (n_genes,)
        Mean of each gene over the **training** samples (in the same space as ``X``).
    """
    X, X_hat = _check_pair(X, X_hat)
    center = _check_mean_profile(mean_profile, X.shape[1])
    return _correlate(X, X_hat, axis=1, center=center, constant_prediction=constant_prediction,
                      return_skipped=return_skipped)


def pearson_gene(X, X_hat, *, constant_prediction="zero", return_skipped=False):
    """Mean over genes of the Pearson correlation across samples, true vs recovered.

    Parameters
    ----------
    X, X_hat : array-like of shape (n_samples, n_genes)
    """
    X, X_hat = _check_pair(X, X_hat)
    return _correlate(X, X_hat, axis=0, constant_prediction=constant_prediction,
                      return_skipped=return_skipped)


def spearman_sample(X, X_hat, *, constant_prediction="zero", return_skipped=False):
    """Mean over samples of the Spearman rank correlation (ties get average ranks).

    Parameters
    ----------
    X, X_hat : array-like of shape (n_samples, n_genes)
    """
    X, X_hat = _check_pair(X, X_hat)
    return _correlate(X, X_hat, axis=1, rank=True, constant_prediction=constant_prediction,
                      return_skipped=return_skipped)


def spearman_gene(X, X_hat, *, constant_prediction="zero", return_skipped=False):
    """Mean over genes of the Spearman rank correlation across samples.

    Parameters
    ----------
    X, X_hat : array-like of shape (n_samples, n_genes)
    """
    X, X_hat = _check_pair(X, X_hat)
    return _correlate(X, X_hat, axis=0, rank=True, constant_prediction=constant_prediction,
                      return_skipped=return_skipped)


for _function in (pearson_sample, pearson_sample_centered, pearson_gene, spearman_sample,
                  spearman_gene):
    _function.__doc__ = _function.__doc__.rstrip() + _SKIP_DOC


# -- distance correlations ------------------------------------------------------------------
def _subset(n_samples: int, max_pairs, random_state) -> np.ndarray | None:
    """Indices of a seeded random subset of samples with at most ``max_pairs`` pairs, or None."""
    max_pairs = DEFAULT_MAX_PAIRS if max_pairs is None else check_positive_int(max_pairs, "max_pairs")
    if n_samples * (n_samples - 1) // 2 <= max_pairs:
        return None
    m = int((1 + np.sqrt(1 + 8 * max_pairs)) // 2)  # largest m with m(m-1)/2 <= max_pairs
    while m * (m - 1) // 2 > max_pairs:
        m -= 1
    m = max(m, 3)
    rng = check_random_state(random_state)
    return np.sort(rng.choice(n_samples, size=m, replace=False))


def _pairwise_distances(X: np.ndarray) -> np.ndarray:
    """Upper triangle (row-major, as scipy's pdist) of the Euclidean distance matrix of rows."""
    Z = np.array(X, dtype=np.float64)
    Z -= Z.mean(axis=0)  # distances are translation-invariant; centring limits cancellation
    squared_norms = np.einsum("ij,ij->i", Z, Z)
    rows, cols = np.triu_indices(Z.shape[0], k=1)
    gram = Z @ Z.T
    squared = squared_norms[rows] + squared_norms[cols] - 2.0 * gram[rows, cols]
    return np.sqrt(np.maximum(squared, 0.0))


def _vector_correlation(a: np.ndarray, b: np.ndarray) -> float:
    r, _, _ = _block_correlations(a[None, :], b[None, :], rank=False, center=None)
    return float(r[0])


def _check_distance_input(n_samples: int, name: str) -> None:
    if n_samples < 3:
        raise InputError(
            f"{name} has {n_samples} sample(s); a correlation of pairwise distances needs at least "
            f"3 samples (3 pairs). Evaluate on more test samples."
        )


def distance_corr(X, X_hat, *, max_pairs=None, random_state=0):
    """Pearson correlation of pairwise sample distances, true vs recovered.

    The upper triangles of the Euclidean distance matrices of the rows of ``X`` and of
    ``X_hat`` are flattened and correlated.

    Parameters
    ----------
    X, X_hat : array-like of shape (n_samples, n_genes)
        At least 3 samples.
    max_pairs : int or None, default=None
        If there are more than ``max_pairs`` sample pairs (None: :data:`DEFAULT_MAX_PAIRS`,
        2,000,000, i.e. exact up to 2,000 samples), the metric is computed on all pairs
        of a random subset of samples (the same for both sides) with at most that many
        pairs. A subset of samples rather than of independent pairs keeps the work in one
        matrix product.
    random_state : int, Generator or None, default=0
        Seed of the subset.

    Returns
    -------
    score : float
        The correlation; 0.0 if the distances on either side are all equal (e.g. every
        recovered profile is the same).
    """
    X, X_hat = _check_pair(X, X_hat)
    _check_distance_input(X.shape[0], "X")
    return _distance_corr(X, X_hat, max_pairs, random_state)


def _distance_corr(X, other, max_pairs, random_state) -> float:
    subset = _subset(X.shape[0], max_pairs, random_state)
    if subset is not None:
        X, other = X[subset], other[subset]
    return _vector_correlation(_pairwise_distances(X), _pairwise_distances(other))


def measurement_distance_corr(X, Y, *, max_pairs=None, random_state=0):
    """Correlation of pairwise distances in measurement space with the true distances.

    How well sample–sample similarity is kept by the measurements alone, without recovery
    (the Johnson–Lindenstrauss claim of the seed paper). Pearson correlation is invariant
    to the overall scale of the design, so the design need not be normalised.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_genes)
        True profiles (at least 3 samples).
    Y : array-like of shape (n_samples, n_measurements)
        Measurements of the same samples, e.g. ``X @ A.T`` plus noise.
    max_pairs, random_state
        As in :func:`distance_corr`.

    Returns
    -------
    score : float
    """
    X = check_matrix(X, "X")
    Y = check_matrix(Y, "Y")
    if X.shape[0] != Y.shape[0]:
        raise InputError(
            f"X has {X.shape[0]} samples (rows) but Y has {Y.shape[0]}; Y must hold the "
            f"measurements of the samples of X, one row per sample, shape (n_samples, n_measurements)."
        )
    _check_distance_input(X.shape[0], "X")
    return _distance_corr(X, Y, max_pairs, random_state)


# -- everything at once ---------------------------------------------------------------------
def evaluate(X, X_hat, mean_profile=None, *, max_pairs=None, random_state=0,
             constant_prediction="zero") -> dict:
    """Compute every recovery metric at once.

    Parameters
    ----------
    X, X_hat : array-like of shape (n_samples, n_genes)
        True and recovered test profiles (at least 3 samples).
    mean_profile : array-like of shape (n_genes,), optional
        Training mean profile for ``pearson_sample_centered``. When omitted the mean of
        ``X`` (the test set) is used instead, which measures recovery beyond the average
        test sample; pass the training mean for the metric defined in DESIGN.md.
    max_pairs, random_state
        As in :func:`distance_corr`.
    constant_prediction : {"zero", "skip"}
        As in :func:`pearson_sample`.

    Returns
    -------
    metrics : dict
        Keys ``pearson_sample``, ``pearson_sample_centered``, ``distance_corr``,
        ``pearson_gene``, ``spearman_sample``, ``spearman_gene`` (floats) and
        ``n_skipped_pearson_sample``, ``n_skipped_pearson_sample_centered``,
        ``n_skipped_pearson_gene``, ``n_skipped_spearman_sample``,
        ``n_skipped_spearman_gene`` (ints).
    """
    X, X_hat = _check_pair(X, X_hat)
    _check_mode(constant_prediction)
    _check_distance_input(X.shape[0], "X")
    center = X.mean(axis=0, dtype=np.float64) if mean_profile is None else \
        _check_mean_profile(mean_profile, X.shape[1])
    options = {"constant_prediction": constant_prediction, "return_skipped": True}
    scores = {
        "pearson_sample": _correlate(X, X_hat, axis=1, **options),
        "pearson_sample_centered": _correlate(X, X_hat, axis=1, center=center, **options),
        "pearson_gene": _correlate(X, X_hat, axis=0, **options),
        "spearman_sample": _correlate(X, X_hat, axis=1, rank=True, **options),
        "spearman_gene": _correlate(X, X_hat, axis=0, rank=True, **options),
    }
    result = {name: score for name, (score, _) in scores.items()}
    result["distance_corr"] = _distance_corr(X, X_hat, max_pairs, random_state)
    result = {name: result[name] for name in _METRIC_NAMES}
    result.update({f"n_skipped_{name}": n for name, (_, n) in scores.items()})
    return result
