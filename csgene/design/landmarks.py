"""``"landmarks"`` and ``"landmarks-random"``: measure d single genes, infer the rest (L1000-style).

Each row of a landmark design is one gene (an identity row). ``landmarks`` picks the genes
greedily: each step adds the gene whose noisy measurement most lowers the expected squared
error of all genes' posterior means under the fitted factor-analysis prior (A-optimal sensor
selection). Mutual information is not used here because measuring gene ``j`` adds
``log(1 + var(x_j | chosen) / sigma^2)`` of it, which favours genes with large private
variance that predicts nothing else; the error criterion values what a gene says about the
others. ``landmarks-random`` draws d distinct genes uniformly: the floor any choice must beat.

With ``x = F^T z + e``, ``z ~ N(0, I)``, ``e ~ N(0, diag(psi))`` and noise ``sigma^2`` on each
measured gene, measuring a set S of genes leaves the factor posterior precision
``P = I + sum_{j in S} u_j u_j^T`` with ``u_j = f_j / sqrt(psi_j + sigma^2)``; the genes'
shared error is ``tr(F^T P^-1 F)`` and a measured gene's private error drops from ``psi_j``
to ``psi_j sigma^2 / (psi_j + sigma^2)``. Adding ``j`` lowers the total by

    (u_j^T P^-1 F F^T P^-1 u_j) / (1 + u_j^T P^-1 u_j) + psi_j^2 / (psi_j + sigma^2),

exact for the shared part, and the private part ignores how a measured gene's private
variance feeds back into the factors (a small, second-order effect). Each step scores all genes
in O(genes x factors^2).
"""

from __future__ import annotations

import numpy as np

from .._random import as_generator
from .prior import DesignPrior
from .random import _check_design_shape


def landmark_genes(prior: DesignPrior, n_measurements: int) -> np.ndarray:
    """Indices of ``n_measurements`` genes chosen greedily to minimise the expected error (see module)."""
    F, psi, noise = prior.factors, prior.psi, max(prior.noise_variance, 1e-12 * float(prior.psi.mean()))
    q, g = F.shape
    U = F / np.sqrt(psi + noise)  # (q, g)
    gram = F @ F.T  # (q, q)
    private_gain = psi**2 / (psi + noise)
    P_inv = np.eye(q)
    chosen = np.zeros(g, dtype=bool)
    picks = []
    for _ in range(n_measurements):
        V = P_inv @ U  # P^-1 u_j for every gene
        shared_gain = np.einsum("qg,qg->g", V, gram @ V) / (1.0 + np.einsum("qg,qg->g", U, V))
        gain = np.where(chosen, -np.inf, shared_gain + private_gain)
        j = int(np.argmax(gain))
        picks.append(j)
        chosen[j] = True
        v = V[:, j]
        P_inv -= np.outer(v, v) / (1.0 + U[:, j] @ v)
    return np.array(picks, dtype=np.intp)


def landmark_design(prior: DesignPrior, n_measurements: int, *, random_state=None) -> np.ndarray:
    """Identity rows on the genes chosen by :func:`landmark_genes`, in the order chosen.

    Parameters
    ----------
    prior : DesignPrior
        Gaussian model of the training profiles and the noise (:meth:`DesignPrior.fit`).
    n_measurements : int
        Number of landmark genes, at most the number of genes.
    random_state : ignored
        The selection is deterministic; accepted for a uniform design interface.

    Returns
    -------
    A : ndarray of shape (n_measurements, n_genes)
        One 1.0 per row, on distinct genes.
    """
    return _one_hot(landmark_genes(prior, n_measurements), prior.n_genes)


def random_landmark_design(n_measurements: int, n_genes: int, *, random_state=None) -> np.ndarray:
    """Identity rows on ``n_measurements`` distinct genes drawn uniformly at random.

    Parameters
    ----------
    n_measurements, n_genes : int
        Shape of the design; ``n_measurements <= n_genes``.
    random_state : int, numpy Generator/RandomState or None

    Returns
    -------
    A : ndarray of shape (n_measurements, n_genes)
    """
    d, g = _check_design_shape(n_measurements, n_genes)
    return _one_hot(as_generator(random_state).choice(g, size=d, replace=False), g)


def _one_hot(genes: np.ndarray, n_genes: int) -> np.ndarray:
    design = np.zeros((genes.size, n_genes))
    design[np.arange(genes.size), genes] = 1.0
    return design
