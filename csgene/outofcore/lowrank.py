"""Streamed leading eigenvectors: the SVD dictionary and the Gaussian backgrounds, out of core.

Leading eigenpairs of a (centred or not) Gram matrix ``Σ_i r_i r_iᵀ`` over the rows ``r_i`` of
the data (or of the residuals ``x_i − codes_i U``) come from subspace iteration with a
Rayleigh–Ritz step (Halko, Martinsson & Tropp 2011, algorithms 4.4 and 5.1 in their Gram form):
start from a seeded Gaussian ``Q`` (n_genes × l, l = rank + oversampling), and in each pass
accumulate ``Z = Σ_b R_bᵀ (R_b Q)`` over the blocks, then orthonormalise ``Q = qr(Z)``; after the
last pass, the Nyström approximation ``Z (QᵀZ)⁺ Zᵀ`` gives the eigenpairs. Memory is the
block plus n_genes × l per sketch. When ``l >= n_genes`` the sketch spans everything and the
result is exact (as the in-memory SVD); otherwise the error falls like (λ_{l+1}/λ_r)^passes.

Several sketches share each pass (the backgrounds' held-out rank choice needs the kept rows'
spectrum, the prior needs the data's and the residuals' backgrounds, the SVD dictionary the
uncentred spectrum), so a fit reads the file ``n_passes`` times for all of them together.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from csgene_kernels.omp import codes_to_dense

from ..lowrank import background_from_spectrum, best_rank, heldout_split, rank_candidates

#: subspace-iteration passes over the data (each reads the file once)
DEFAULT_PASSES = 4
#: extra sketch columns beyond the rank wanted
OVERSAMPLING = 10
#: eigenvalues of QᵀCQ below this fraction of the largest are dropped from the Nyström inverse
NYSTROM_CUTOFF = 1e-12


@dataclass
class Sketch:
    """One Gram matrix to sketch: which rows, which values, centred on which mean.

    Attributes
    ----------
    name : str
    rank : int
        Eigenpairs wanted.
    residual : bool
        Rows are ``x_i − codes_i U`` (codes handed to each block) instead of ``x_i``.
    rows : ndarray of bool (n_samples,) or None
        Mask of the rows that count (None: all).
    mean : ndarray (n_genes,) or None
        Subtracted from each row first (None: uncentred).
    seed : int
        Seed of the starting Gaussian.
    """

    name: str
    rank: int
    residual: bool = False
    rows: np.ndarray | None = None
    mean: np.ndarray | None = None
    seed: int = 0

    def width(self, n_genes: int) -> int:
        return min(n_genes, self.rank + OVERSAMPLING)

    def start(self, n_genes: int) -> np.ndarray:
        rng = np.random.default_rng(self.seed)
        return np.linalg.qr(rng.standard_normal((n_genes, self.width(n_genes))))[0]

    def n_rows(self, n_samples: int) -> int:
        return n_samples if self.rows is None else int(self.rows.sum())


def block_rows(X, start, stop, inputs, sketch: Sketch, components) -> np.ndarray:
    """The rows of a block that ``sketch`` counts, in the block's dtype, residual and centred as it says."""
    rows = slice(None) if sketch.rows is None else sketch.rows[start:stop]
    R = X[rows]
    if sketch.residual:
        indices, values = inputs
        codes = codes_to_dense(indices[rows], values[rows], components.shape[0])
        R = R - (codes.astype(np.float64) @ components).astype(X.dtype)
    if sketch.mean is not None:
        R = R - sketch.mean.astype(X.dtype)
    return R


class CodesInput:
    """Hands each block its rows of sparse codes (for residual sketches)."""

    def __init__(self, indices=None, values=None):
        self.indices = indices
        self.values = values

    def block_inputs(self, index, start, stop):
        if self.indices is None:
            return None
        return self.indices[start:stop], self.values[start:stop]


class MeansTask(CodesInput):
    """Sums of the rows (all and the sketch's own) for each sketch: their means."""

    def __init__(self, sketches, components=None, indices=None, values=None):
        super().__init__(indices, values)
        self.sketches = sketches
        self.components = components
        self.how = {s.name: "sum" for s in sketches}

    def __call__(self, X, start, stop, inputs):
        out = {}
        for s in self.sketches:
            rows = slice(None) if s.rows is None else s.rows[start:stop]
            total = X[rows].sum(axis=0, dtype=np.float64)  # a basic slice: no copy of the block
            if s.residual:
                indices, values = inputs
                codes = codes_to_dense(indices[rows], values[rows], self.components.shape[0])
                total -= codes.sum(axis=0, dtype=np.float64) @ self.components
            if s.mean is not None:
                total -= len(X[rows]) * s.mean
            out[s.name] = total
        return out


class SketchTask(CodesInput):
    """One subspace-iteration pass: ``Z = Σ Rᵀ (R Q)`` per sketch (and, first, per-gene Σ R²).

    After the first pass no residual or centred copy of the block is made: with ``R = D (X − C U
    − 1μᵀ)`` (D the sketch's row mask, C the block's codes), ``P = R Q = D (X Q − C (U Q) − 1 μᵀQ)``
    and ``Rᵀ P = Xᵀ P − Uᵀ (Cᵀ P) − μ (1ᵀ P)``, and every sketch's ``X Q`` and ``Xᵀ P`` are two
    products with the block in its own dtype (float32 blocks: float32 products, float64 sums).
    """

    def __init__(self, sketches, bases, components=None, indices=None, values=None, first=False):
        super().__init__(indices, values)
        self.sketches = sketches
        self.bases = bases
        self.components = components
        self.first = first
        self.how = {f"{s.name}/Z": "sum" for s in sketches}
        if first:
            self.how.update({f"{s.name}/sq": "sum" for s in sketches})

    def __call__(self, X, start, stop, inputs):
        if self.first:  # the per-gene sums of squares need the rows themselves
            out = {}
            for s in self.sketches:
                R = block_rows(X, start, stop, inputs, s, self.components)
                out[f"{s.name}/Z"] = R.T @ (R @ self.bases[s.name].astype(R.dtype))
                out[f"{s.name}/sq"] = np.einsum("ij,ij->j", R, R, dtype=np.float64)
            return out
        Q, U, edges, UQ, mean_Q = self._block_invariants(X.dtype)
        codes = None
        if U is not None:
            indices, values = inputs
            codes = codes_to_dense(indices, values, self.components.shape[0]).astype(X.dtype, copy=False)
        P = X @ Q
        for i, s in enumerate(self.sketches):
            part = P[:, edges[i]:edges[i + 1]]
            if s.residual:
                part -= codes @ UQ[i]
            if s.mean is not None:
                part -= mean_Q[i]
            if s.rows is not None:
                part[~s.rows[start:stop]] = 0
        Z = X.T @ P
        out = {}
        for i, s in enumerate(self.sketches):
            part, z = P[:, edges[i]:edges[i + 1]], Z[:, edges[i]:edges[i + 1]].astype(np.float64)
            if s.residual:
                z -= self.components.T @ (codes.T @ part).astype(np.float64)
            if s.mean is not None:
                z -= np.outer(s.mean, part.sum(axis=0, dtype=np.float64))
            out[f"{s.name}/Z"] = z
        return out

    def _block_invariants(self, dtype):
        """The stacked bases, the components, ``U Q`` and ``μᵀQ`` per sketch in ``dtype``, made once per pass."""
        cached = self.__dict__.get("_invariants")
        if cached is None or cached[0] != dtype:
            bases = [self.bases[s.name] for s in self.sketches]
            Q = np.concatenate(bases, axis=1).astype(dtype, copy=False)
            edges = np.cumsum([0] + [b.shape[1] for b in bases])
            residual = any(s.residual for s in self.sketches)
            U = self.components.astype(dtype, copy=False) if residual else None
            UQ = [U @ Q[:, edges[i]:edges[i + 1]] if s.residual else None for i, s in enumerate(self.sketches)]
            mean_Q = [None if s.mean is None else (s.mean @ base).astype(dtype)
                      for s, base in zip(self.sketches, bases)]
            cached = self._invariants = (dtype, Q, U, edges, UQ, mean_Q)
        return cached[1:]

    def __getstate__(self):  # workers rebuild the cache; it would double what is sent per block
        return {k: v for k, v in self.__dict__.items() if k != "_invariants"}


class ProjectionTask(CodesInput):
    """Σ over held-out rows of the squared projections on kept-row eigenvectors, and of ‖r‖²."""

    def __init__(self, sketches, vectors, components=None, indices=None, values=None):
        super().__init__(indices, values)
        self.sketches = sketches
        self.vectors = vectors
        self.components = components
        self.how = {}
        for s in sketches:
            self.how.update({f"{s.name}/proj_sq": "sum", f"{s.name}/sq": "sum"})

    def __call__(self, X, start, stop, inputs):
        out = {}
        for s in self.sketches:
            R = block_rows(X, start, stop, inputs, s, self.components)
            proj = R @ self.vectors[s.name].T.astype(R.dtype)
            out[f"{s.name}/proj_sq"] = np.einsum("ij,ij->j", proj, proj, dtype=np.float64)
            out[f"{s.name}/sq"] = np.einsum("ij,ij->", R, R, dtype=np.float64)
        return out


class CombinedTask:
    """Several tasks on the same blocks in one pass (results keyed ``"<i>:<name>"``)."""

    def __init__(self, tasks):
        self.tasks = list(tasks)
        self.how = {f"{i}:{k}": v for i, t in enumerate(self.tasks) for k, v in t.how.items()}

    def block_inputs(self, index, start, stop):
        return [getattr(t, "block_inputs", lambda *a: None)(index, start, stop) for t in self.tasks]

    def __call__(self, X, start, stop, inputs):
        out = {}
        for i, (task, extra) in enumerate(zip(self.tasks, inputs)):
            out.update({f"{i}:{k}": v for k, v in task(X, start, stop, extra).items()})
        return out

    @staticmethod
    def split(result: dict, i: int) -> dict:
        prefix = f"{i}:"
        return {k[len(prefix):]: v for k, v in result.items() if k.startswith(prefix)}


def sketch_passes(stream, checkpoint, prefix: str, sketches, *, n_passes=DEFAULT_PASSES, components=None,
                  indices=None, values=None) -> dict:
    """Subspace iteration for every sketch at once; ``{name: {"eig", "vectors", "sq"}}``.

    ``eig`` are the leading eigenvalues of the sketch's Gram matrix (not divided by the row
    count), ``vectors`` (rank, n_genes) their eigenvectors, ``sq`` the per-gene sums of squares
    of its rows. Each pass is a checkpoint step ``"<prefix>/pass<p>"`` that keeps its basis and
    product until the next pass supersedes them.
    """
    g = stream.n_genes
    names = [f"{prefix}/pass{p}" for p in range(n_passes)]
    last = max([p for p, name in enumerate(names) if checkpoint.done(name)], default=-1)
    if last >= 0:  # resume: the latest pass's bases and products are all that is kept
        result = checkpoint.results[names[last]]
        bases = {s.name: result[f"{s.name}/Q"] for s in sketches}
    else:
        result, bases = None, {s.name: s.start(g) for s in sketches}
    for p in range(last + 1, n_passes):
        if p > 0:
            bases = {s.name: np.linalg.qr(result[f"{s.name}/Z"])[0] for s in sketches}
        task = SketchTask(sketches, bases, components, indices, values, first=(p == 0))
        drop = [(names[p - 1], f"{s.name}/{key}") for s in sketches for key in ("Q", "Z")] if p else []
        result = checkpoint.step(names[p], lambda task=task, p=p: dict(
            stream.run(task, f"{prefix} pass {p + 1}/{n_passes}"),
            **{f"{s.name}/Q": task.bases[s.name] for s in sketches}), drop=drop)
    first = checkpoint.results[names[0]]
    out = {}
    for s in sketches:
        eig, vectors = nystrom_eigenpairs(result[f"{s.name}/Q"], result[f"{s.name}/Z"], s.rank)
        out[s.name] = {"eig": eig, "vectors": vectors, "sq": first[f"{s.name}/sq"]}
    return out


def nystrom_eigenpairs(Q, Z, rank):
    """Leading eigenpairs of the PSD matrix C from ``Z = C Q`` (Q orthonormal): C ≈ Z (QᵀZ)⁺ Zᵀ.

    The Nyström approximation (Halko et al. 2011, §5.4) uses the last pass's product once more
    than a Rayleigh–Ritz step on Q would, and is exact when Q spans the whole space.
    """
    B = Q.T @ Z
    lam, W = np.linalg.eigh((B + B.T) / 2)
    keep = lam > max(lam.max(), 0.0) * NYSTROM_CUTOFF
    if not keep.any():
        return np.zeros(rank), np.zeros((rank, Q.shape[0]))
    F = Z @ (W[:, keep] / np.sqrt(lam[keep]))
    U, sig, _ = np.linalg.svd(F, full_matrices=False)
    eig = np.zeros(rank)
    vectors = np.zeros((rank, Q.shape[0]))
    found = min(rank, len(sig))
    eig[:found] = sig[:found] ** 2
    vectors[:found] = U[:, :found].T
    return eig, np.ascontiguousarray(vectors)


# --------------------------------------------------------------------------- backgrounds


@dataclass
class BackgroundPlan:
    """A streamed :func:`csgene.lowrank.fit_background`: its sketches and its held-out split."""

    name: str
    residual: bool
    n_samples: int
    n_genes: int
    split_rng: object

    def __post_init__(self):
        self.candidates = rank_candidates(self.n_samples, self.n_genes)
        self.choose = len(self.candidates) > 1
        if self.choose:
            held, kept = heldout_split(self.n_samples, self.split_rng)
            self.held = np.zeros(self.n_samples, dtype=bool)
            self.held[held] = True
            self.kept = ~self.held

    def mean_sketches(self) -> list[Sketch]:
        """Uncentred row selections whose sums give the means (all rows, and the kept rows)."""
        sketches = [Sketch(f"{self.name}-all", 0, self.residual)]
        if self.choose:
            sketches.append(Sketch(f"{self.name}-kept", 0, self.residual, rows=self.kept))
        return sketches

    def sketches(self, sums: dict, seed: int) -> list[Sketch]:
        rank = max(self.candidates)
        self.mean = sums[f"{self.name}-all"] / self.n_samples
        out = [Sketch(f"{self.name}-all", rank, self.residual, mean=self.mean, seed=seed)]
        if self.choose:
            self.kept_mean = sums[f"{self.name}-kept"] / int(self.kept.sum())
            out.append(Sketch(f"{self.name}-kept", rank, self.residual, rows=self.kept, mean=self.kept_mean,
                              seed=seed + 1))
        return out

    def held_sketch(self) -> Sketch:
        return Sketch(f"{self.name}-kept", 0, self.residual, rows=self.held, mean=self.kept_mean)

    def finish(self, spectra: dict, held: dict | None) -> dict:
        """The background ``{"mean", "factors", "psi"}`` from the sketches and held-out sums."""
        g, n = self.n_genes, self.n_samples
        if self.choose:
            kept = spectra[f"{self.name}-kept"]
            n_kept, n_held = int(self.kept.sum()), int(self.held.sum())
            q = best_rank(kept["eig"] / n_kept, float(kept["sq"].sum()) / n_kept, g,
                          held[f"{self.name}-kept/proj_sq"] / n_held, float(held[f"{self.name}-kept/sq"]) / n_held,
                          self.candidates)
        else:
            q = self.candidates[0]
        q = min(q, max(1, min(n, g) - 1))
        full = spectra[f"{self.name}-all"]
        gene_var = full["sq"] / n
        return background_from_spectrum(self.mean, full["eig"][:q] / n, full["vectors"][:q], float(gene_var.sum()),
                                        gene_var)
