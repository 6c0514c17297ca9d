"""Sparse Module Activity Factorization (SMAF; Cleary, Cong, Cheung, Lander & Regev, Cell 2017).

Factor nonnegative expression X (n_samples, n_genes) as X ≈ W U with sparse nonnegative gene
modules U (n_modules, n_genes) and k-sparse module activities W (n_samples, n_modules).
Alternating, as in ``smaf(..., mode=1)`` of the reference code (github.com/brian-cleary/CS-SMAF,
``smaf.py`` / ``union_of_transforms.py``, written genes × samples with X = U W):

1. **U-step**, per gene g: ``min ‖u_g‖₁ s.t. ‖x_g − W u_g‖² ≤ ε, u_g ≥ 0`` with
   ``ε = λ₂ · ‖X‖²_F / n_genes`` (λ₂ times the average gene's energy; the reference's
   ``spams.lasso(X.T, D=W.T, mode=1, lambda1=lda2*Xnorm, pos=True)`` divides by the number of
   samples instead, see below): the error-constrained nonnegative lasso kernel, one target per gene.
2. Optionally module rows scaled to unit norm (the reference's ``donorm``).
3. **W-step**: OMP with k = λ₁ atoms per sample; k is lowered while the overall fit
   ``1 − ‖X − WU‖²/‖X‖²`` stays at least ``1 − λ₂`` and k stays at least ``min_sparsity``
   (the reference's ``sparse_decode(X, U, lda1, worstFit=1-lda2, mink)``).
4. λ₂ is halved when the mean module size exp(H(|u|/Σ|u|)) falls below ``module_size_bound``,
   and halved again when the mean activity size falls below ``activity_size_bound``.

Deviations from the reference, and why
--------------------------------------
* The U-step budget is ``λ₂ ‖X‖²/n_genes`` per gene, so the genes' budgets add up to
  ``λ₂ ‖X‖²``, the same relative error the W-step tolerates (fit ≥ 1 − λ₂). The reference's
  ``‖X‖²/n_samples`` is ``n_genes/n_samples`` times larger: harmless on its 1,000-gene ×
  500-sample example, but on full profiles (TCGA: 20,531 genes × 137 training samples) every
  gene's budget exceeds its whole energy, all modules come out zero and so does every recovery.
* The reference's ``sparse_decode`` returns the first k whose fit is *below* 1 − λ₂ (one atom
  past the last acceptable k) and never goes below ``mink + 1``; here the W-step keeps the
  sparsest k >= ``min_sparsity`` whose fit is still acceptable (λ₁ when none is), which is what
  the reference's comment ("search for the sparsest fit while tolerating at most this error")
  describes.
* Mean sizes skip all-zero modules (as the reference does) and all-zero activity rows (where
  the reference's average would be NaN).
* The U-step is warm-started from the previous modules (SPAMS restarts from zero); the
  solution is the same up to the solver's tolerance.
* ``center=True`` (not in the reference) learns on deviations from the training mean: the
  reference spends part of its sparsity budget re-expressing the average profile.

Defaults
--------
Defaults follow the reference's documented example (``smaf.py`` header): λ₁ = k = 15,
λ₂ = 0.1, ``module_lower = min(20, n_genes/20)``, ``activity_lower = 0``, ``mink = 5``,
``donorm = True``, random uniform initialisation, 10 iterations. The paper's own experiment
script (``direct_vs_distributed.py``) used λ₁ = 5, λ₂ = 0.0005, ``module_lower = n_genes/10``,
``mink = 3``, with ``n_modules = min(1.5·n_train, 150)``; the seed paper recovers with k = 15
and ``n_modules = min(1.5·n_train, 150)`` for small training sets, up to 500 for large ones.
The function defaults of the reference (``module_lower=500, activity_lower=5, donorm=False``,
SPAMS NMF initialisation) are available as ``init="nmf"`` and explicit bounds.
"""

from __future__ import annotations

import logging
import time

import numpy as np
from scipy.stats import entropy

from csgene_kernels.nmf import nmf_init
from csgene_kernels.nnlasso import gram_quantities, lambda_floor
from csgene_kernels.nnlasso import squared_residuals as _squared_residuals
from csgene_kernels.omp import code_residuals, codes_to_dense

from .._device import kernels
from .._progress import report
from .._random import check_random_state
from .._validation import check_positive_float, check_positive_int
from ..exceptions import InputError
from ._base import (
    OMP,
    OMPTransformMixin,
    check_sparsity,
    training_mean,
    unit_rows,
)

log = logging.getLogger(__name__)

SMAF_INITS = ("random", "nmf")

#: Named rules for ``module_size_bound`` from the number of genes: the reference's documented
#: example ("auto") and the paper's experiment script ("paper").
MODULE_SIZE_RULES = {"auto": lambda n_genes: min(20.0, n_genes / 20.0), "paper": lambda n_genes: n_genes / 10.0}

#: Multiplicative-update iterations of the ``init="nmf"`` start (SPAMS' nmf default is similar).
NMF_INIT_ITER = 100


def effective_size(M: np.ndarray) -> np.ndarray:
    """exp(entropy) of |row| / Σ|row| for every row; 0 for all-zero rows."""
    magnitudes = np.abs(np.asarray(M, dtype=np.float64))
    sizes = np.zeros(magnitudes.shape[0])
    nonzero = magnitudes.sum(axis=1) > 0
    if nonzero.any():
        sizes[nonzero] = np.exp(entropy(magnitudes[nonzero], axis=1))
    return sizes


def mean_nonzero(sizes: np.ndarray) -> float:
    """Mean of the positive entries (0.0 when there are none)."""
    positive = sizes[sizes > 0]
    return float(positive.mean()) if positive.size else 0.0


def initial_activities(X: np.ndarray, n_components: int, init: str, rng, kern=None) -> np.ndarray:
    """Starting W (n_samples, n_modules): uniform random, or the activities of a plain NMF."""
    if init not in SMAF_INITS:
        raise InputError(f"init must be one of {SMAF_INITS}, got {init!r}.")
    if init == "random":
        return rng.random((X.shape[0], n_components)).astype(X.dtype)
    nonnegative = np.ascontiguousarray(np.maximum(X, 0))  # centred data: start from its positive part
    W, H = nmf_init(nonnegative, n_components, random_state=int(rng.randint(2**31 - 1)))
    W, _, _, _ = (kern or kernels("cpu")).nmf_mu(nonnegative, W, H, max_iter=NMF_INIT_ITER)
    return np.ascontiguousarray(W, dtype=X.dtype)


#: Sweeps of the U-step's floor solve after which genes already under budget skip the rest.
FLOOR_SCREEN_SWEEPS = 20


def update_modules(X, W, eps, init, *, max_iter, tol, kern=None):
    """SMAF U-step: per gene, the sparsest nonnegative u with ‖x_g − W u‖² ≤ eps.

    Returns
    -------
    components : ndarray of shape (n_modules, n_genes)
    n_infeasible : int
        Genes whose error budget could not be met (the kernel returns its best fit).
    """
    W = np.ascontiguousarray(W, dtype=X.dtype)
    # WᵀW, XᵀW ((n_genes, n_modules): row g = Wᵀ x_g) and ‖x_g‖²; after the first W-step W is
    # k-sparse and XᵀW costs nnz(W)·n_genes instead of a dense product
    gram, cov, x_sq_norms = gram_quantities(W, X)
    return update_modules_from_sums(gram, cov, x_sq_norms, eps, init, max_iter=max_iter, tol=tol, kern=kern)


def update_modules_from_sums(gram, cov, x_sq_norms, eps, init, *, max_iter, tol, kern=None):
    """The U-step of :func:`update_modules` from sums over samples only.

    ``gram = WᵀW`` (n_modules, n_modules), ``cov = XᵀW`` (n_genes, n_modules) and the genes'
    squared norms (float64) are all the U-step needs, so an out-of-core fit accumulates them
    block by block (:mod:`csgene.outofcore.smaf`). ``gram`` and ``cov`` share one float dtype.
    """
    gram = np.ascontiguousarray(gram)
    cov = np.ascontiguousarray(cov, dtype=gram.dtype)
    warm = None if init is None else np.ascontiguousarray(init.T, dtype=gram.dtype)
    # Genes that miss the budget even at the smallest λ get that solution, as the kernel would
    # give them, but from one solve instead of a descending ladder of them: with a random start
    # most genes are in this case and the ladder dominated the fit time.
    kern = kern or kernels("cpu")
    lam_floor = lambda_floor(cov)
    # Most genes get under the budget within a few sweeps (they are searched below, so their
    # floor solution is not needed); only the rest run on, warm, to max_iter sweeps in all.
    # With a random start the floor solve converges slowly (hundreds of sweeps per gene) and
    # this cut the first U-step on TCGA (20,531 genes) from 28 s to 17 s.
    first = min(FLOOR_SCREEN_SWEEPS, max_iter)
    coef, _ = kern.nnlasso_gram(gram, cov, x_sq_norms, lam_floor, init=warm, max_iter=first, tol=tol)
    over_budget = squared_residuals(gram, cov, x_sq_norms, coef) > eps
    rest = np.flatnonzero(over_budget)
    if rest.size and max_iter > first:
        coef[rest], _ = kern.nnlasso_gram(gram, cov[rest], x_sq_norms[rest], lam_floor[rest], init=coef[rest],
                                          max_iter=max_iter - first, tol=tol)
        over_budget[rest] = squared_residuals(gram, cov[rest], x_sq_norms[rest], coef[rest]) > eps
    search = np.flatnonzero(~over_budget & (x_sq_norms > 0))
    if search.size:
        searched, _, _ = kern.nnlasso_constrained_gram(
            gram, cov[search], x_sq_norms[search], eps,
            init=None if warm is None else warm[search], max_iter=max_iter, tol=tol,
        )
        coef[search] = searched
    coef[x_sq_norms == 0] = 0.0
    return np.ascontiguousarray(coef.T), int(over_budget.sum())


def squared_residuals(gram, cov, x_sq_norms, coef) -> np.ndarray:
    """‖x_t − W u_t‖² per target from Gram quantities (float64; over each u_t's support)."""
    return _squared_residuals(gram, cov, x_sq_norms, coef)


def fit_fraction(X, indices, values, components, x_sq_total, kern=None) -> float:
    """1 − ‖X − codes·components‖² / ‖X‖²."""
    residual = X - (kern or kernels("cpu")).reconstruct(indices, values, components)
    return 1.0 - float(np.einsum("ij,ij->", residual, residual, dtype=np.float64)) / x_sq_total


def update_activities(X, components, k_max, k_min, min_fit, x_sq_total, kern=None):
    """SMAF W-step: OMP with the sparsest k in [k_min, k_max] whose fit is >= min_fit.

    Fit only falls as k falls (OMP with k−1 atoms picks the first k−1 atoms of OMP with k), so
    the search stops at the first unacceptable k. The fit of each k comes from Gram quantities
    (:func:`csgene_kernels.omp.code_residuals`, n·k² work) instead of the residual X − WU.
    Returns (indices, values, k, fit).
    """
    gram = np.ascontiguousarray(components @ components.T)
    kern = kern or kernels("cpu")
    dty = np.ascontiguousarray(X @ components.T)
    y_sq_norms = np.einsum("ij,ij->i", X, X, dtype=np.float64)
    best = None
    for k in range(k_max, k_min - 1, -1):
        indices, values = kern.omp_gram(gram, dty, k)
        residual = code_residuals(gram, dty, y_sq_norms, np.asarray(indices), np.asarray(values))
        fit = 1.0 - float(residual.sum()) / x_sq_total
        if fit < min_fit and best is not None:
            break
        best = (indices, values, k, fit)
        if fit < min_fit:  # even k_max misses the target: keep it, as the reference does
            break
    return best


class SMAF(OMPTransformMixin):
    """Sparse Module Activity Factorization (Cleary et al. 2017), X ≈ activities @ components.

    Parameters
    ----------
    n_components : int
        Number of modules. May exceed n_samples (an overcomplete dictionary): the paper uses
        ``min(1.5·n_train, 150)`` for small training sets, up to 500.
    sparsity : int, default=15
        λ₁: the largest number of active modules per sample (OMP's k).
    lda2 : float, default=0.1
        λ₂: relative error budget. U-step error per gene ``λ₂·‖X‖²/n_genes``; the W-step
        accepts any fit >= 1 − λ₂. Halved by the size bounds below.
    max_iter : int, default=10
        Alternating iterations (always all run, as in the reference).
    init : {"random", "nmf"}, default="random"
        Starting activities: uniform random (the reference's examples) or a plain NMF's
        (the reference's default through SPAMS).
    unit_norm_components : bool, default=True
        Scale module rows to unit norm after each U-step (the reference's ``donorm``).
    min_sparsity : int or None, default=None
        Smallest k the W-step may lower to (the reference's ``mink``); None means
        min(5, sparsity), the reference's 5 where the sparsity allows it.
    module_size_bound : float, "auto" or "paper", default="auto"
        Halve λ₂ when the mean module size (exp-entropy of ``|u|/Σ|u|``) falls below it.
        ``"auto"``: ``min(20, n_genes/20)`` (the reference's documented example); ``"paper"``:
        ``n_genes/10`` (the paper's experiment script, what :func:`csgene.methods.make_method`
        uses).
    activity_size_bound : float, default=0.0
        Halve λ₂ when the mean activity size falls below it.
    center : bool, default=False
        Learn on deviations from the training mean (``mean_``; ``inverse_transform`` adds it
        back). The reference does not center.
    lasso_max_iter : int, default=1000
        Coordinate-descent sweeps per lasso solve in the U-step.
    lasso_tol : float, default=1e-6
        Coordinate-descent tolerance of the U-step.
    random_state : int, RandomState, Generator or None
        Seed of the initialisation (the only random step).
    device : {"cpu", "cuda", "auto"}, default="cpu"
        Where the U- and W-step kernels run (:func:`csgene_kernels.device.resolve_device`).
        With "cuda", arrays are copied to the GPU for each kernel call.

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_genes)
        Nonnegative modules (unit-norm rows when ``unit_norm_components``; all-zero rows are
        modules no gene uses).
    activities_ : ndarray of shape (n_samples, n_components)
        Training activities, at most ``sparsity_`` nonzeros per row.
    module_sizes_ : ndarray of shape (n_components,)
        exp-entropy size of each module (0 for empty ones).
    uncovered_genes_ : ndarray of int
        Genes that vary in training but belong to no module (every component is zero there):
        a module decoder alone predicts them as constants. The usual cause is a small error
        budget met by the other genes; the default Bayesian decoder of
        :class:`csgene.dictionary_method.DictionaryMethod` recovers them from its Gaussian background.
    activity_sizes_ : ndarray of shape (n_samples,)
        exp-entropy size of each training sample's activities.
    sparsity_ : int
        The k of the last W-step (used by ``transform``).
    lda2_ : float
        λ₂ after the last halving.
    mean_ : ndarray of shape (n_genes,)
    history_ : list of dict
        Per iteration: ``fit``, ``lda2`` (used in that iteration), ``k``, ``module_size``,
        ``activity_size``, ``n_infeasible`` (genes over their error budget), ``seconds``.
    n_iter_ : int
    n_components_ : int
    n_features_in_ : int
    recovery_kind_ : str
        ``"omp"``.

    Examples
    --------
    >>> from csgene_kernels.testing import make_sparse_problem
    >>> X = make_sparse_problem(200, 100, 20, 3, seed=0).X.clip(0)
    >>> smaf = SMAF(20, sparsity=3, min_sparsity=1, random_state=0).fit(X)
    >>> smaf.components_.shape, smaf.activities_.shape
    ((20, 100), (200, 20))
    """

    _nonnegative = True

    def __init__(
        self,
        n_components,
        *,
        sparsity=15,
        lda2=0.1,
        max_iter=10,
        init="random",
        unit_norm_components=True,
        min_sparsity=None,
        module_size_bound="auto",
        activity_size_bound=0.0,
        center=False,
        lasso_max_iter=1000,
        lasso_tol=1e-6,
        random_state=None,
        device="cpu",
    ):
        self.device = device
        self.n_components = n_components
        self.sparsity = sparsity
        self.lda2 = lda2
        self.max_iter = max_iter
        self.init = init
        self.unit_norm_components = unit_norm_components
        self.min_sparsity = min_sparsity
        self.module_size_bound = module_size_bound
        self.activity_size_bound = activity_size_bound
        self.center = center
        self.lasso_max_iter = lasso_max_iter
        self.lasso_tol = lasso_tol
        self.random_state = random_state

    def _check_params(self, X):
        # no n_components <= n_samples check: the paper uses 1.5·n_train modules (overcomplete)
        n_components = check_positive_int(self.n_components, "n_components")
        sparsity = check_sparsity(self.sparsity, n_components)
        min_sparsity = (min(5, sparsity) if self.min_sparsity is None
                        else check_positive_int(self.min_sparsity, "min_sparsity", maximum=sparsity))
        lda2 = check_positive_float(self.lda2, "lda2")
        if lda2 >= 1:
            raise InputError(
                f"lda2 is a relative error budget and must be < 1, got {lda2}. Typical values are "
                f"0.0005 (the paper's runs) to 0.2."
            )
        if isinstance(self.module_size_bound, str):
            if self.module_size_bound not in MODULE_SIZE_RULES:
                raise InputError(
                    f"module_size_bound must be a number or one of {sorted(MODULE_SIZE_RULES)}, got "
                    f"{self.module_size_bound!r}."
                )
            module_bound = MODULE_SIZE_RULES[self.module_size_bound](X.shape[1])
        else:
            module_bound = check_positive_float(self.module_size_bound, "module_size_bound", allow_zero=True)
        activity_bound = check_positive_float(self.activity_size_bound, "activity_size_bound", allow_zero=True)
        check_positive_int(self.max_iter, "max_iter")
        check_positive_int(self.lasso_max_iter, "lasso_max_iter")
        check_positive_float(self.lasso_tol, "lasso_tol")
        return n_components, sparsity, min_sparsity, lda2, module_bound, activity_bound

    def fit(self, X, y=None):
        """Learn modules and activities from nonnegative X (n_samples, n_genes); returns self."""
        X = self._check_fit(X)
        n_components, sparsity, min_sparsity, lda2, module_bound, activity_bound = self._check_params(X)
        rng = check_random_state(self.random_state)
        kern = kernels(self.device)
        self.mean_ = training_mean(X, self.center)
        Xc = np.ascontiguousarray(X - self.mean_)
        x_sq_total = float(np.einsum("ij,ij->", Xc, Xc, dtype=np.float64))
        if x_sq_total == 0:
            raise InputError(
                "X (after centering) is all zeros, so there is nothing to factor. Check the "
                "preprocessing, or use center=False."
            )
        W = initial_activities(Xc, n_components, self.init, rng, kern)
        components = None
        self.history_ = []
        for _ in range(self.max_iter):
            start = time.perf_counter()
            eps = lda2 * x_sq_total / X.shape[1]
            components, n_infeasible = update_modules(
                Xc, W, eps, components, max_iter=self.lasso_max_iter, tol=self.lasso_tol, kern=kern
            )
            if self.unit_norm_components:
                components = unit_rows(components)[0]
            indices, values, k, fit = update_activities(
                Xc, components, sparsity, min_sparsity, 1.0 - lda2, x_sq_total, kern
            )
            W = codes_to_dense(indices, values, n_components)
            module_size = mean_nonzero(effective_size(components))
            activity_size = mean_nonzero(effective_size(W))
            self.history_.append(
                {
                    "fit": fit,
                    "lda2": lda2,
                    "k": k,
                    "module_size": module_size,
                    "activity_size": activity_size,
                    "n_infeasible": n_infeasible,
                    "seconds": time.perf_counter() - start,
                }
            )
            if module_size < module_bound:
                lda2 /= 2.0
            if activity_size < activity_bound:
                lda2 /= 2.0
            report("SMAF iterations", len(self.history_), self.max_iter)
        self.components_ = components
        self.activities_ = W
        varies = np.ptp(X, axis=0) > 0
        self.uncovered_genes_ = np.flatnonzero(varies & ~np.any(components != 0, axis=0))
        if self.uncovered_genes_.size:
            log.info("SMAF: %d of %d varying genes are in no module (uncovered_genes_); plain OMP recovers "
                     "them as constants, the default Bayesian decoder from their Gaussian background.",
                     self.uncovered_genes_.size, int(varies.sum()))
        self.module_sizes_ = effective_size(components)
        self.activity_sizes_ = effective_size(W)
        self.sparsity_ = k
        self.lda2_ = lda2
        self.n_iter_ = len(self.history_)
        self.n_components_ = n_components
        self.n_features_in_ = X.shape[1]
        self.recovery_kind_ = OMP
        return self
