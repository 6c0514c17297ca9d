"""``"learned"``: nonnegative probe mixtures spanning the most informative directions.

Under csgene's noise model (noise on the profiles, before measuring) the expected error a
design removes, :meth:`DesignPrior.error_reduction`, depends only on the row space of ``A``,
and the best ``d``-dimensional row space is spanned by the ``d`` leading eigenvectors of the
prior covariance (principal directions). Weights must be nonnegative to be mixed in a tube.
Two ways to get there (``nonnegative_basis``):

``"split"`` (default)
    Each direction ``r`` becomes two mixtures, its positive part ``max(r, 0)`` and its negative
    part ``max(-r, 0)``, whose difference is ``r``: the leading ``ceil(d / 2)`` directions are
    measured exactly, and no mixture carries a large common part.
``"offset"``
    A row space has a nonnegative basis exactly when it contains a strictly positive vector
    ``p``; then each direction ``r`` becomes ``r + t p`` with the smallest ``t`` making it
    nonnegative. If the top-``d`` subspace contains a positive vector (a linear program
    decides) this spans it exactly; otherwise the top ``d - 1`` directions plus the better (by
    ``J``) of the all-ones vector and the mean profile.

``offset`` recovers slightly more under profile noise alone (on ARCHS4 slice a, centered
Pearson .806 vs .785 at d = 20, equal from d = 50), but its mixtures are mostly the common part
``t p``: 10% pipetting error on the weights drops it to .41 (split: .78), and noise on the
measurements themselves, which scales with the whole measured signal, swamps it. Hence split.

``max_weight_ratio`` caps the ratio of the largest to the smallest nonzero weight of each row.
With ``split``, weights below ``1 / max_weight_ratio`` of a row's largest are left out of that
mixture (set to zero), which changes the row slightly; with ``offset``, offsets are raised until
the cap holds, which leaves the row space unchanged.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linprog

from .._validation import check_positive_float
from ..exceptions import InputError
from .prior import DesignPrior

#: Weights below this fraction of a row's largest weight are set to exactly zero.
_ZERO_TOLERANCE = 1e-12


def learned_design(prior: DesignPrior, n_measurements: int, *, nonnegative_basis: str = "split",
                   max_weight_ratio: float | None = None, random_state=None) -> np.ndarray:
    """Nonnegative design of ``n_measurements`` rows maximising the expected recovered variance.

    Parameters
    ----------
    prior : DesignPrior
        Gaussian model of the training profiles and the noise (:meth:`DesignPrior.fit`).
    n_measurements : int
    nonnegative_basis : {"split", "offset"}
        How principal directions become nonnegative mixtures (see the module).
    max_weight_ratio : float > 1, optional
        Largest allowed ratio of the largest to the smallest nonzero weight in a row. None
        (default) for no cap.
    random_state : ignored
        The construction is deterministic; accepted for a uniform design interface.

    Returns
    -------
    A : ndarray of shape (n_measurements, n_genes)
        Nonnegative; each row's largest weight is 1.
    """
    d = n_measurements
    if max_weight_ratio is not None:
        max_weight_ratio = check_positive_float(max_weight_ratio, "max_weight_ratio")
        if max_weight_ratio <= 1:
            raise InputError(
                f"max_weight_ratio must exceed 1 (1 would force equal weights), got {max_weight_ratio}; "
                f"use e.g. 100 or leave it unset."
            )
    if nonnegative_basis not in ("split", "offset"):
        raise InputError(f"nonnegative_basis must be 'split' or 'offset', got {nonnegative_basis!r}.")
    directions = prior.top_directions(d)
    if nonnegative_basis == "split":
        return _split_parts(directions, d, max_weight_ratio)
    positive = _positive_vector_in_span(directions)
    if positive is None:
        candidates = [np.ones(prior.n_genes), np.maximum(prior.mean, 0.0) + 1e-3 * max(prior.mean.max(), 1e-12)]
        scored = [prior.error_reduction(np.vstack([directions[: d - 1], p])) for p in candidates]
        positive = candidates[int(np.argmax(scored))]
        directions = directions[: d - 1]
    if max_weight_ratio is not None and positive.max() / positive.min() >= max_weight_ratio:
        positive = np.ones(prior.n_genes)  # the only positive vector that meets any cap > 1
    # p and d - 1 leading directions span the chosen subspace (p has a part outside the first
    # d - 1 directions unless it is orthogonal to the d-th, which does not happen generically).
    rows = [positive / positive.max()]
    rows += [_offset_to_nonnegative(r, positive, max_weight_ratio) for r in directions[: d - 1]]
    return np.vstack(rows)


def _split_parts(directions: np.ndarray, d: int, max_weight_ratio) -> np.ndarray:
    """Positive and negative parts of the leading directions, in order, until there are d rows.

    A part with no weight (a direction of one sign) is skipped; each row is scaled to a largest
    weight of 1, and weights below ``1 / max_weight_ratio`` are set to zero.
    """
    rows = []
    for direction in directions:
        for part in (np.maximum(direction, 0.0), np.maximum(-direction, 0.0)):
            if part.max() > 0 and len(rows) < d:
                part = part / part.max()
                if max_weight_ratio is not None:
                    part[part < 1.0 / max_weight_ratio] = 0.0
                rows.append(part)
    return np.vstack(rows)


def _positive_vector_in_span(rows: np.ndarray) -> np.ndarray | None:
    """A vector ``c @ rows`` with every entry >= 1, or None if the span holds no positive vector.

    Solved as the linear program max t s.t. ``rows^T c >= t``, ``|c| <= 1``.
    """
    d, g = rows.shape
    # variables: c (d), t; minimise -t subject to t - rows^T c <= 0
    A_ub = np.hstack([-rows.T, np.ones((g, 1))])
    result = linprog(np.r_[np.zeros(d), -1.0], A_ub=A_ub, b_ub=np.zeros(g),
                     bounds=[(-1, 1)] * d + [(None, 1)], method="highs")
    if not result.success or result.x[-1] <= 1e-9:
        return None
    vector = result.x[:d] @ rows
    return vector / vector.min()


def _offset_to_nonnegative(row: np.ndarray, positive: np.ndarray, max_weight_ratio) -> np.ndarray:
    """``±row + t * positive`` with the smallest ``t`` making it nonnegative (and meeting the cap).

    The sign is chosen to need the smaller offset; the result is scaled to a largest weight of 1.
    """
    best = None
    for signed in (row, -row):
        t = float(np.max(-signed / positive))
        candidate = signed + t * positive
        if max_weight_ratio is not None:
            candidate = _meet_ratio(signed, positive, t, max_weight_ratio)
        candidate[candidate < _ZERO_TOLERANCE * candidate.max()] = 0.0
        common = np.dot(candidate, positive) / (np.linalg.norm(candidate) * np.linalg.norm(positive))
        if best is None or common < best[0]:
            best = (common, candidate)
    return best[1] / best[1].max()


def _meet_ratio(signed: np.ndarray, positive: np.ndarray, t: float, ratio: float) -> np.ndarray:
    """Raise the offset ``t`` until max/min of ``signed + t * positive`` is at most ``ratio``.

    The ratio falls monotonically towards ``max(positive) / min(positive)`` as ``t`` grows
    (which is 1 for the all-ones vector), so bisection on ``t`` finds the smallest offset.
    """
    def excess(offset):
        values = signed + offset * positive
        return values.max() / max(values.min(), 1e-300) - ratio

    low, high = t, max(t, 1e-12) * 2 + float(np.abs(signed).max())
    while excess(high) > 0:
        high *= 2
    for _ in range(60):
        middle = 0.5 * (low + high)
        low, high = (middle, high) if excess(middle) > 0 else (low, middle)
    return signed + high * positive
