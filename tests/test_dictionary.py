"""Dictionary learners against slow obvious references (numpy, scipy, scikit-learn)."""

from __future__ import annotations

import numpy as np
from scipy.optimize import nnls
import pytest
import scipy.optimize
from sklearn.base import clone
from sklearn.linear_model import Lasso, orthogonal_mp

from csgene.dictionary import KSVD, SMAF, SparseNMF, SVDDictionary, TopKSVD, match_score
from csgene.dictionary._base import unit_rows
from csgene.dictionary.ksvd import update_atoms
from csgene.dictionary.smaf import effective_size, update_activities, update_modules
from csgene.dictionary import snmf_bcd
from csgene_kernels.nmf import nmf_init
from csgene.exceptions import InputError
from csgene_kernels.testing import make_sparse_problem

import naive

ALL_LEARNERS = [
    lambda: SVDDictionary(4),
    lambda: TopKSVD(3),
    lambda: KSVD(6, sparsity=2, max_iter=3, random_state=0),
    lambda: SparseNMF(6, max_iter=10, random_state=0),
    lambda: SMAF(6, sparsity=2, min_sparsity=1, max_iter=3, random_state=0),
]


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture(scope="module")
def easy_problem():
    """Noiseless planted modules: 20 modules of 20 genes, 3 active per sample."""
    return make_sparse_problem(300, 200, 20, 3, genes_per_module=0.1, noise=0.0, seed=3)


def aligned_abs_cosines(A, B):
    """|cosine| between matching rows of A and B."""
    A_unit, _ = unit_rows(np.asarray(A, dtype=np.float64))
    B_unit, _ = unit_rows(np.asarray(B, dtype=np.float64))
    return np.abs(np.einsum("ij,ij->i", A_unit, B_unit))


# ------------------------------------------------------------------------------------------
# SVD bases
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("center", [False, True])
def test_svd_matches_numpy(rng, dtype, center):
    X = rng.standard_normal((30, 20)).astype(dtype)
    svd = SVDDictionary(5, center=center, svd_solver="full").fit(X)
    Xc = X.astype(np.float64) - (X.mean(axis=0) if center else 0.0)
    _, s, Vt = np.linalg.svd(Xc, full_matrices=False)
    tol = 1e-4 if dtype == np.float32 else 1e-10
    assert svd.components_.dtype == dtype
    np.testing.assert_allclose(aligned_abs_cosines(svd.components_, Vt[:5]), 1.0, atol=tol)
    np.testing.assert_allclose(svd.singular_values_, s[:5], rtol=tol)
    np.testing.assert_allclose(svd.mean_, X.mean(axis=0) if center else 0.0, atol=tol)
    assert svd.recovery_kind_ == "least_squares" and svd.n_components_ == 5


def test_svd_randomized_agrees_with_full(rng):
    # low-rank signal with a clear spectral gap so the randomized solver is exact to rounding
    X = rng.standard_normal((600, 8)) @ rng.standard_normal((8, 300)) + 1e-3 * rng.standard_normal((600, 300))
    full = SVDDictionary(6, svd_solver="full").fit(X)
    randomized = SVDDictionary(6, svd_solver="randomized", random_state=0).fit(X)
    np.testing.assert_allclose(aligned_abs_cosines(full.components_, randomized.components_), 1.0, atol=1e-8)
    assert SVDDictionary(6).fit(X).svd_solver_ == "randomized"


def test_svd_transform_roundtrip_full_rank(rng):
    X = rng.standard_normal((12, 8))
    svd = SVDDictionary(8, center=True).fit(X)
    np.testing.assert_allclose(svd.inverse_transform(svd.transform(X)), X, atol=1e-10)
    codes = svd.transform(X)
    lstsq = np.linalg.lstsq(svd.components_.T, (X - X.mean(axis=0)).T, rcond=None)[0].T
    np.testing.assert_allclose(codes, lstsq, atol=1e-10)


def test_svd_clamps_too_many_components_with_warning(rng):
    X = rng.standard_normal((6, 10))
    with pytest.warns(UserWarning, match="using 6"):
        svd = SVDDictionary(9).fit(X)
    assert svd.components_.shape == (6, 10) and svd.n_components_ == 6


def test_topk_svd_is_first_k_singular_vectors(rng):
    X = rng.standard_normal((40, 25))
    top = TopKSVD(4).fit(X)
    _, _, Vt = np.linalg.svd(X, full_matrices=False)
    np.testing.assert_allclose(aligned_abs_cosines(top.components_, Vt[:4]), 1.0, atol=1e-10)
    np.testing.assert_allclose(top.components_, SVDDictionary(10).fit(X).components_[:4], atol=1e-10)
    assert top.n_components_ == 4 and top.get_params()["sparsity"] == 4


# ------------------------------------------------------------------------------------------
# K-SVD
# ------------------------------------------------------------------------------------------
def test_ksvd_atom_sweep_matches_textbook(rng):
    X = rng.standard_normal((40, 15))
    atoms = unit_rows(rng.standard_normal((6, 15)))[0]
    codes = rng.standard_normal((40, 6)) * (rng.random((40, 6)) < 0.4)
    codes[:, 0] = 0.0  # one unused atom gets replaced, which does not change the fit
    expected_atoms, expected_codes = naive.ksvd_sweep(X, atoms, codes)
    residual = X - codes @ atoms
    new_atoms, new_codes = atoms.copy(), codes.copy()
    n_replaced = update_atoms(X, new_atoms, new_codes, residual)
    assert n_replaced == 1
    np.testing.assert_allclose(residual, X - new_codes @ new_atoms, atol=1e-10)
    for j in range(1, 6):  # rank-1 terms agree (signs of singular pairs are arbitrary)
        np.testing.assert_allclose(
            np.outer(new_codes[:, j], new_atoms[j]),
            np.outer(expected_codes[:, j], expected_atoms[j]),
            atol=1e-8,
        )
    np.testing.assert_allclose(np.linalg.norm(new_atoms, axis=1), 1.0)


def test_ksvd_error_decreases_and_recovers_planted_atoms(easy_problem):
    ksvd = KSVD(20, sparsity=3, max_iter=25, tol=0.0, random_state=0).fit(easy_problem.X)
    coding = np.array([h["coding_error"] for h in ksvd.history_])
    update = ksvd.error_
    assert np.all(update <= coding + 1e-12)  # the atom sweep never increases the error
    assert np.all(np.diff(update) <= 1e-3)  # OMP is greedy, so allow rounding-level wiggles
    assert update[-1] < 0.5 * coding[0]
    score = match_score(easy_problem.U, ksvd.components_)
    assert score >= 0.9, f"K-SVD planted-atom matching score {score:.3f}"
    np.testing.assert_allclose(np.linalg.norm(ksvd.components_, axis=1), 1.0, rtol=1e-10)
    assert np.all(np.count_nonzero(ksvd.activities_, axis=1) <= 3)
    recon_error = np.linalg.norm(easy_problem.X - ksvd.inverse_transform(ksvd.activities_))
    np.testing.assert_allclose(recon_error / np.linalg.norm(easy_problem.X), update[-1], rtol=1e-8)


def test_ksvd_transform_matches_sklearn_omp(rng, easy_problem):
    ksvd = KSVD(20, sparsity=3, max_iter=2, random_state=1).fit(easy_problem.X)
    X_new = easy_problem.X[:50] + 0.01 * rng.standard_normal((50, 200))
    expected = orthogonal_mp(ksvd.components_.T, X_new.T, n_nonzero_coefs=3).T
    np.testing.assert_allclose(ksvd.transform(X_new), expected, atol=1e-8)


def test_ksvd_center_learns_on_deviations(easy_problem):
    X = easy_problem.X + 5.0
    ksvd = KSVD(20, sparsity=3, max_iter=3, center=True, random_state=0).fit(X)
    np.testing.assert_allclose(ksvd.mean_, X.mean(axis=0))
    resid = np.linalg.norm(X - ksvd.inverse_transform(ksvd.activities_))
    np.testing.assert_allclose(resid / np.linalg.norm(X - X.mean(axis=0)), ksvd.error_[-1], rtol=1e-8)


# ------------------------------------------------------------------------------------------
# Sparse NMF
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_snmf_nonnegative_unit_rows_and_objective_decreases(easy_problem, dtype):
    X = easy_problem.X.clip(0).astype(dtype)
    snmf = SparseNMF(20, l1_components=0.01, l1_activities=0.01, max_iter=40, tol=0.0, random_state=0).fit(X)
    assert snmf.components_.dtype == dtype and snmf.activities_.dtype == dtype
    assert snmf.components_.min() >= 0 and snmf.activities_.min() >= 0
    norms = np.linalg.norm(snmf.components_, axis=1)
    np.testing.assert_allclose(norms[norms > 0], 1.0, rtol=1e-5)
    objective = snmf.objective_
    assert np.all(np.diff(objective) <= 1e-6 * objective[:-1])
    assert objective[-1] < 0.5 * objective[0]
    recon = np.linalg.norm(X - snmf.activities_ @ snmf.components_)
    np.testing.assert_allclose(snmf.reconstruction_err_, recon, rtol=1e-4)
    assert snmf.recovery_kind_ == "omp"


@pytest.mark.parametrize("l1", [0.0, 0.05])
def test_snmf_transform_matches_scipy_and_sklearn(easy_problem, l1):
    X = easy_problem.X.clip(0)
    snmf = SparseNMF(10, l1_activities=l1, max_iter=10, random_state=0).fit(X)
    codes = snmf.transform(X[:20])
    H = snmf.components_
    for i in range(20):
        if l1 == 0:
            expected = scipy.optimize.nnls(H.T, X[i])[0]
        else:  # sklearn's Lasso divides the squared loss by n_rows (genes)
            lasso = Lasso(alpha=l1 / H.shape[1], positive=True, fit_intercept=False, tol=1e-12, max_iter=100000)
            expected = lasso.fit(H.T, X[i]).coef_

        def objective(w):
            return 0.5 * np.sum((X[i] - w @ H) ** 2) + l1 * w.sum()

        assert codes[i].min() >= 0
        assert objective(codes[i]) <= objective(expected) + 1e-9 * np.sum(X[i] ** 2)
        np.testing.assert_allclose(codes[i], expected, atol=1e-4 * max(1.0, expected.max()))


def _random_sums(rng, n=40, m=6, g=25):
    W = rng.random((n, m)) * (rng.random((n, m)) < 0.6)
    X = rng.random((n, g)) * 3
    return W.T @ W, X.T @ W, X, W


@pytest.mark.parametrize("l1", [0.0, 0.3])
def test_snmf_module_step_matches_projected_gradient(rng, l1):
    gram, cov, _, _ = _random_sums(rng)
    H0 = snmf_bcd.initial_modules(1.0, cov.shape[0], gram.shape[0], 0, np.float64)
    H, n_sweeps = snmf_bcd.update_modules(gram, cov, H0, l1=l1, max_sweeps=5000, tol=1e-13)
    assert n_sweeps < 5000
    expected = naive.snmf_modules_pg(gram, cov, H0, l1)
    np.testing.assert_allclose(H, expected, atol=1e-8)
    assert H.min() >= 0 and np.all(np.linalg.norm(H, axis=1) <= 1 + 1e-12)
    # KKT of the constrained problem, per module: the gradient G = A H − Bᵀ + l1 plus μ_j h_j
    # (μ_j >= 0, zero unless ‖h_j‖ = 1) is >= 0, and zero where h_j > 0.
    grad = gram @ H - cov.T + l1
    for j in range(H.shape[0]):
        on = H[j] > 0
        mu = -grad[j, on] @ H[j, on] / (H[j, on] @ H[j, on])
        assert mu >= -1e-8
        np.testing.assert_allclose(grad[j, on] + mu * H[j, on], 0, atol=1e-7)
        assert np.all(grad[j, ~on] >= -1e-7)


def test_snmf_module_step_keeps_unused_modules_and_never_increases_the_objective(rng):
    gram, cov, X, W = _random_sums(rng)
    W[:, 2] = 0
    gram, cov = W.T @ W, X.T @ W
    H0 = snmf_bcd.initial_modules(1.0, X.shape[1], W.shape[1], 1, np.float64)
    H, _ = snmf_bcd.update_modules(gram, cov, H0, l1=0.1, max_sweeps=1)
    np.testing.assert_array_equal(H[2], H0[2])
    before = naive.nmf_objective(X, W, H0, 0.0, 0.1)
    assert naive.nmf_objective(X, W, H, 0.0, 0.1) <= before


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_snmf_initial_modules_are_nmf_inits_unit_rows(easy_problem, dtype):
    X = easy_problem.X.clip(0).astype(dtype)
    H = snmf_bcd.initial_modules(float(X.astype(np.float64).mean()), X.shape[1], 7, 11, dtype)
    expected = unit_rows(nmf_init(X, 7, random_state=11)[1])[0]
    assert H.dtype == dtype
    np.testing.assert_allclose(H, expected, rtol=1e-12 if dtype == np.float64 else 1e-6)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_snmf_bcd_objective_never_increases_and_is_the_direct_objective(easy_problem, dtype):
    X = easy_problem.X.clip(0).astype(dtype)
    # no L1: the final unit-norm rescaling leaves the objective, ½‖X − W H‖², unchanged
    plain = SparseNMF(12, solver="bcd", l1_activities=0.0, max_iter=8, tol=0.0, random_state=0).fit(X)
    direct = 0.5 * np.sum((X.astype(np.float64) - plain.activities_ @ plain.components_) ** 2)
    np.testing.assert_allclose(plain.objective_[-1], direct, rtol=1e-10 if dtype == np.float64 else 1e-4)
    np.testing.assert_allclose(plain.reconstruction_err_, np.sqrt(2 * direct), rtol=1e-5)
    assert plain.n_iter_ == len(plain.objective_) == 8
    sparse = SparseNMF(12, solver="bcd", l1_activities=0.05, l1_components=0.01, max_iter=15, tol=0.0,
                       random_state=0).fit(X)
    for fitted in (plain, sparse):
        assert np.all(np.diff(fitted.objective_) <= 1e-12 * fitted.objective_[:-1])
        assert fitted.components_.dtype == dtype and fitted.activities_.dtype == dtype
        assert fitted.components_.min() >= 0 and fitted.activities_.min() >= 0
        norms = np.linalg.norm(fitted.components_, axis=1)
        np.testing.assert_allclose(norms[norms > 0], 1.0, rtol=1e-5)
    # deterministic: a fit stopped earlier records the same objectives up to there
    shorter = SparseNMF(12, solver="bcd", l1_activities=0.05, l1_components=0.01, max_iter=10, tol=0.0,
                        random_state=0).fit(X)
    np.testing.assert_array_equal(shorter.objective_, sparse.objective_[:10])
    # the penalised objective of the fitted (rescaled) pair is no worse than the first iterate's
    assert naive.nmf_objective(X, sparse.activities_, sparse.components_, 0.05, 0.01) < sparse.objective_[0]


def test_snmf_bcd_stops_on_tol_and_refuses_unknown_solver(easy_problem):
    X = easy_problem.X.clip(0)
    fitted = SparseNMF(8, solver="bcd", tol=1e-2, random_state=0).fit(X)
    assert fitted.n_iter_ < 20
    decrease = -np.diff(fitted.objective_)
    assert decrease[-1] <= 1e-2 * fitted.objective_[-2] and np.all(decrease[:-1] > 1e-2 * fitted.objective_[:-2])
    with pytest.raises(InputError, match="solver"):
        SparseNMF(8, solver="als").fit(X)


# ------------------------------------------------------------------------------------------
# SMAF
# ------------------------------------------------------------------------------------------
def test_effective_size_is_exp_entropy(rng):
    M = rng.random((5, 30)) * (rng.random((5, 30)) < 0.3)
    M[2] = 0.0
    sizes = effective_size(-M)  # sign is ignored
    assert sizes[2] == 0
    np.testing.assert_allclose(sizes, naive.effective_size(M), rtol=1e-12)
    assert effective_size(np.eye(3)).tolist() == [1.0, 1.0, 1.0]


def test_smaf_u_step_is_error_constrained_nonnegative_lasso(rng):
    W = rng.random((60, 8))
    X = W @ (rng.random((8, 12)) * (rng.random((8, 12)) < 0.5)) + 0.05 * rng.random((60, 12))
    eps = 0.02 * np.linalg.norm(X) ** 2 / X.shape[0]
    components, n_infeasible = update_modules(X, W, eps, None, max_iter=5000, tol=1e-10)
    assert components.shape == (8, 12) and components.min() >= 0 and n_infeasible == 0
    residual = ((X - W @ components) ** 2).sum(axis=0)
    assert np.all(residual <= eps * (1 + 1e-6))
    # each gene sits on the lasso path: some positive sklearn Lasso alpha reproduces it exactly
    for g in range(12):
        u = components[:, g]
        if not u.any():
            assert (X[:, g] ** 2).sum() <= eps
            continue
        assert residual[g] >= 0.99 * eps  # the budget is used, not over-fitted
        lam = (W.T @ (X[:, g] - W @ u))[u > 0].mean()
        lasso = Lasso(alpha=lam / 60, positive=True, fit_intercept=False, tol=1e-12, max_iter=100000)
        np.testing.assert_allclose(lasso.fit(W, X[:, g]).coef_, u, atol=1e-6)



@pytest.mark.parametrize("seed", [0, 2])
def test_smaf_u_step_matches_the_naive_bisection(seed):
    rng = np.random.default_rng(seed)
    W = rng.random((60, 8))
    X = W @ (rng.random((8, 12)) * (rng.random((8, 12)) < 0.5)) + 0.05 * rng.random((60, 12))
    eps = 0.02 * np.linalg.norm(X) ** 2 / X.shape[0]
    components, n_infeasible = update_modules(X, W, eps, None, max_iter=5000, tol=1e-10)
    expected, n_expected = naive.smaf_u_step(X, W, eps, rtol=1e-4, max_iter=100_000, tol=1e-12)
    assert n_infeasible == n_expected
    np.testing.assert_array_equal(components > 0, expected > 0)
    np.testing.assert_allclose(components, expected, atol=1e-3 * expected.max())


def test_smaf_fit_matches_the_naive_smaf():
    """Same start, same steps: csgene's SMAF and the one on scikit-learn's solvers agree."""
    X = np.maximum(make_sparse_problem(80, 60, 6, 2, seed=1).X, 0.0)
    smaf = SMAF(6, sparsity=2, min_sparsity=1, max_iter=3, random_state=0).fit(X)
    _, _, history = naive.smaf(X, 6, sparsity=2, min_sparsity=1, max_iter=3, random_state=0)
    for ours, ref in zip(smaf.history_, history, strict=True):
        assert (ours["k"], ours["lda2"]) == (ref["k"], ref["lda2"])
        assert ours["fit"] == pytest.approx(ref["fit"], rel=1e-4)
        assert ours["module_size"] == pytest.approx(ref["module_size"], rel=1e-3)


def test_smaf_u_step_flags_genes_over_budget_with_their_nonnegative_least_squares_fit(rng):
    # dense positive activities, more modules than samples: coordinate descent needs far more
    # than the screening sweeps, so the genes over budget must really be solved on to the end
    W = rng.random((30, 40))
    X = rng.random((30, 50)) * rng.random(50) * 3
    nnls_residual = np.array([nnls(W, X[:, g])[1] ** 2 for g in range(50)])
    eps = float(np.median(nnls_residual))
    far = np.abs(nnls_residual - eps) > 0.05 * eps  # genes whose side of the budget is clear
    components, n_infeasible = update_modules(X, W, eps, None, max_iter=20000, tol=1e-12)
    residual = ((X - W @ components) ** 2).sum(axis=0)
    over = residual > eps
    np.testing.assert_array_equal(over[far], (nnls_residual > eps)[far])
    assert n_infeasible == over.sum() and 10 < n_infeasible < 40
    np.testing.assert_allclose(residual[over], nnls_residual[over], rtol=1e-3)
    searched = ~over & ((X ** 2).sum(axis=0) > eps)  # the rest are answered with zero modules
    assert searched.sum() >= 5 and np.all(residual[searched] >= 0.99 * eps)
    assert not components[:, (X ** 2).sum(axis=0) <= eps].any()


@pytest.mark.filterwarnings("ignore:Orthogonal matching pursuit ended prematurely")
@pytest.mark.parametrize("min_fit", [0.5, 0.9, 0.999])
def test_smaf_w_step_matches_sklearn_omp(rng, easy_problem, min_fit):
    U = easy_problem.U
    X = easy_problem.X[:80]
    indices, values, k, fit = update_activities(X, U, 6, 2, min_fit, float((X**2).sum()))
    W_ref, k_ref, fit_ref = naive.smaf_w_step(X, U, 6, 2, min_fit)
    assert k == k_ref
    np.testing.assert_allclose(fit, fit_ref, atol=1e-10)
    dense = np.zeros_like(W_ref)
    rows = np.repeat(np.arange(80), indices.shape[1])
    keep = indices.ravel() >= 0
    dense[rows[keep], indices.ravel()[keep]] = values.ravel()[keep]
    np.testing.assert_allclose(dense, W_ref, atol=1e-8)


def test_smaf_fit_properties_and_planted_modules(easy_problem):
    smaf = SMAF(20, sparsity=5, min_sparsity=2, lda2=0.02, max_iter=15, random_state=0).fit(easy_problem.X)
    fits = np.array([h["fit"] for h in smaf.history_])
    assert len(smaf.history_) == smaf.n_iter_ == 15
    assert fits[-1] >= fits[0] and fits[-1] >= 0.95
    assert smaf.components_.min() >= 0
    norms = np.linalg.norm(smaf.components_, axis=1)
    np.testing.assert_allclose(norms[norms > 0], 1.0, rtol=1e-10)
    assert smaf.sparsity_ <= 5
    assert np.all(np.count_nonzero(smaf.activities_, axis=1) <= smaf.sparsity_)
    score = match_score(easy_problem.U, smaf.components_)
    assert score >= 0.8, f"SMAF planted-module matching score {score:.3f}"
    recon = smaf.inverse_transform(smaf.activities_)
    last_fit = 1 - np.linalg.norm(easy_problem.X - recon) ** 2 / np.linalg.norm(easy_problem.X) ** 2
    np.testing.assert_allclose(last_fit, fits[-1], atol=1e-10)
    sizes = smaf.module_sizes_
    np.testing.assert_allclose(sizes, naive.effective_size(smaf.components_), rtol=1e-12)
    assert sizes[sizes > 0].mean() == pytest.approx(smaf.history_[-1]["module_size"], rel=1e-12)
    np.testing.assert_allclose(smaf.activity_sizes_, naive.effective_size(smaf.activities_), rtol=1e-12)
    assert set(smaf.history_[0]) >= {"fit", "lda2", "k", "module_size", "activity_size", "seconds"}


def test_smaf_seeded_reproducibility(easy_problem):
    X = easy_problem.X[:150]
    params = dict(sparsity=3, min_sparsity=1, max_iter=3)
    a = SMAF(10, random_state=7, **params).fit(X)
    b = SMAF(10, random_state=7, **params).fit(X)
    c = SMAF(10, random_state=8, **params).fit(X)
    np.testing.assert_array_equal(a.components_, b.components_)
    np.testing.assert_array_equal(a.activities_, b.activities_)
    assert not np.array_equal(a.components_, c.components_)


def test_smaf_unit_norm_off_and_lda2_halving(easy_problem):
    X = easy_problem.X[:150]
    smaf = SMAF(
        10, sparsity=3, min_sparsity=1, lda2=0.2, max_iter=4, unit_norm_components=False,
        module_size_bound=1e9, activity_size_bound=1e9, random_state=0,
    ).fit(X)
    np.testing.assert_allclose([h["lda2"] for h in smaf.history_], 0.2 * 0.25 ** np.arange(4))
    np.testing.assert_allclose(smaf.lda2_, 0.2 * 0.25**4)
    norms = np.linalg.norm(smaf.components_, axis=1)
    assert not np.allclose(norms[norms > 0], 1.0)


def test_smaf_allows_overcomplete_dictionary(easy_problem):
    X = easy_problem.X[:20, :60]
    smaf = SMAF(30, sparsity=3, min_sparsity=1, max_iter=2, random_state=0).fit(X)  # 1.5 · n_train
    assert smaf.components_.shape == (30, 60)
    assert np.all(np.count_nonzero(smaf.activities_, axis=1) <= 3)


def test_smaf_float32_and_center(easy_problem):
    X = (easy_problem.X + 0.5).astype(np.float32)
    smaf = SMAF(20, sparsity=5, min_sparsity=2, lda2=0.02, max_iter=8, center=True, random_state=0).fit(X)
    assert smaf.components_.dtype == np.float32 and smaf.activities_.dtype == np.float32
    np.testing.assert_allclose(smaf.mean_, X.mean(axis=0), rtol=1e-6)
    assert smaf.history_[-1]["fit"] > 0.9
    assert match_score(easy_problem.U, smaf.components_) >= 0.7
    codes = smaf.transform(X[:10])
    assert codes.dtype == np.float32 and np.all(np.count_nonzero(codes, axis=1) <= smaf.sparsity_)


# ------------------------------------------------------------------------------------------
# shared estimator manners and bad input
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("make", ALL_LEARNERS)
def test_estimator_manners(make, easy_problem):
    X = easy_problem.X[:60, :40].clip(0)
    est = make()
    assert clone(est).get_params() == est.get_params()
    assert est.fit(X) is est
    n = est.n_components_
    assert est.components_.shape == (n, 40) and est.mean_.shape == (40,)
    codes = est.transform(X[:5])
    assert codes.shape == (5, n)
    assert est.inverse_transform(codes).shape == (5, 40)
    assert est.recovery_kind_ in ("least_squares", "omp")
    with pytest.raises(InputError, match="genes"):
        est.transform(X[:5, :30])
    with pytest.raises(InputError, match="codes"):
        est.inverse_transform(np.zeros((2, n + 1)))
    est32 = clone(est).fit(X.astype(np.float32))
    assert est32.components_.dtype == np.float32
    assert est32.transform(X[:5].astype(np.float32)).dtype == np.float32
    bad = X.copy()
    bad[3, 4] = np.nan
    with pytest.raises(InputError, match="NaN"):
        clone(est).fit(bad)


@pytest.mark.parametrize("cls", [SparseNMF, SMAF])
def test_negative_input_refused_with_fix(cls, rng):
    X = rng.standard_normal((20, 10))
    with pytest.raises(InputError, match="log1p"):
        cls(3).fit(X)


@pytest.mark.parametrize(
    "est, match",
    [
        (KSVD(30, sparsity=2), "n_components=30"),
        (SparseNMF(30), "n_components=30"),
        (KSVD(5, sparsity=6), "sparsity=6"),
        (SMAF(5, sparsity=6), "sparsity=6"),
        (SMAF(5, sparsity=3, min_sparsity=4), "min_sparsity"),
        (SMAF(5, sparsity=3, min_sparsity=1, lda2=1.5), "lda2"),
        (SMAF(5, sparsity=3, min_sparsity=1, init="svd"), "init"),
        (KSVD(5, sparsity=2, init="svd"), "init"),
        (SVDDictionary(3, svd_solver="arpack"), "svd_solver"),
        (SVDDictionary(0), "n_components"),
    ],
)
def test_bad_parameters_raise_input_error(est, match, rng):
    X = rng.random((20, 10))
    with pytest.raises(InputError, match=match):
        est.fit(X)


def test_match_score_reference(rng):
    true = rng.random((4, 12))
    learned = np.vstack([-2 * true[[2, 0, 3, 1]], rng.random((3, 12))])
    assert match_score(true, learned) == pytest.approx(1.0)
    brute = np.mean([max(abs(t @ l) / np.linalg.norm(t) / np.linalg.norm(l) for l in learned[4:]) for t in true])
    assert match_score(true, learned[4:]) == pytest.approx(brute)


def test_smaf_default_min_sparsity_follows_a_small_sparsity():
    from csgene.dictionary import SMAF
    from csgene_kernels.testing import make_sparse_problem

    p = make_sparse_problem(40, 30, 6, 2, seed=0)
    smaf = SMAF(6, sparsity=3, max_iter=2, random_state=0).fit(np.abs(p.X))
    assert all(h["k"] <= 3 for h in smaf.history_)
    with pytest.raises(InputError, match="min_sparsity"):
        SMAF(6, sparsity=3, min_sparsity=4).fit(np.abs(p.X))
