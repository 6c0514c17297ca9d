"""Seeded, realistic problems shared by the kernel tests and the benchmarks.

The structure mirrors expression data: nonnegative sparse gene modules (each gene in a few
modules), k-sparse nonnegative activities per sample, and additive noise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class SparseProblem:
    """X ≈ W @ U with U (n_modules, n_genes) sparse nonnegative and W (n_samples, n_modules) k-sparse."""

    X: np.ndarray  # (n_samples, n_genes)
    U: np.ndarray  # (n_modules, n_genes)
    W: np.ndarray  # (n_samples, n_modules)


def make_sparse_problem(
    n_samples: int,
    n_genes: int,
    n_modules: int,
    k: int,
    *,
    genes_per_module: float = 0.05,
    noise: float = 0.05,
    dtype=np.float64,
    seed: int = 0,
) -> SparseProblem:
    """Draw a seeded sparse factorisation problem.

    Parameters
    ----------
    n_samples, n_genes, n_modules : int
        Shapes.
    k : int
        Active modules per sample (clipped to ``n_modules``).
    genes_per_module : float
        Fraction of genes in each module.
    noise : float
        Standard deviation of Gaussian noise relative to the RMS of ``W @ U``.
    dtype : numpy dtype
        float32 or float64.
    seed : int
        Random seed.
    """
    rng = np.random.default_rng(seed)
    U = np.zeros((n_modules, n_genes))
    size = max(1, int(round(genes_per_module * n_genes)))
    for j in range(n_modules):
        genes = rng.choice(n_genes, size=size, replace=False)
        U[j, genes] = rng.gamma(2.0, 1.0, size=size)
    U /= np.linalg.norm(U, axis=1, keepdims=True)
    k = min(k, n_modules)
    W = np.zeros((n_samples, n_modules))
    for i in range(n_samples):
        active = rng.choice(n_modules, size=k, replace=False)
        W[i, active] = rng.gamma(2.0, 1.0, size=k)
    clean = W @ U
    scale = noise * np.sqrt(np.mean(clean**2)) if noise > 0 else 0.0
    X = clean + scale * rng.standard_normal(clean.shape)
    return SparseProblem(X=X.astype(dtype), U=U.astype(dtype), W=W.astype(dtype))
