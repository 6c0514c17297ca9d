"""Tests of the learned designs against dense-matrix recomputations and their constraints."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from scipy.linalg import subspace_angles

from csgene.design import (
    DesignPrior,
    best_of_random_pools,
    binary_pool_design,
    gaussian_design,
    landmark_design,
    learned_design,
    learned_pool_design,
    make_design,
    nonnegative_design,
    random_landmark_design,
    read_design_csv,
    read_design_provenance,
    write_design_csv,
)
from csgene.design.best_of_random import _passes_filters
from csgene.design.landmarks import landmark_genes
from csgene.design.pools import _move_search
from csgene.exceptions import InputError


def _prior(rng, n_genes=60, n_factors=4, noise_variance=0.3, positive_directions=False) -> DesignPrior:
    scales = np.array([4.0, 3.0, 2.0, 1.5]) if n_factors == 4 else np.geomspace(4.0, 0.5, n_factors)
    factors = rng.standard_normal((n_factors, n_genes)) * scales[:, None]
    if positive_directions:
        factors[0] = np.abs(factors[0]) + 1.0
    psi = rng.uniform(0.05, 0.3, n_genes)
    return DesignPrior(rng.uniform(1, 3, n_genes), factors, psi, noise_variance)


def _dense_sigma(prior: DesignPrior) -> np.ndarray:
    return prior.factors.T @ prior.factors + np.diag(prior.psi)


def _dense_error_reduction(prior: DesignPrior, A: np.ndarray) -> float:
    """tr(Σ Aᵀ (A(Σ + σ²I)Aᵀ)⁻¹ A Σ) with every matrix formed densely."""
    sigma = _dense_sigma(prior)
    K = A @ (sigma + prior.noise_variance * np.eye(len(sigma))) @ A.T
    return float(np.trace(sigma @ A.T @ np.linalg.solve(K, A @ sigma)))


def _samples(rng, prior: DesignPrior, n: int) -> np.ndarray:
    z = rng.standard_normal((n, prior.factors.shape[0]))
    return prior.mean + z @ prior.factors + rng.standard_normal((n, prior.n_genes)) * np.sqrt(prior.psi)


# --------------------------------------------------------------------------- the objective
def test_error_reduction_and_gradient_match_dense_algebra():
    rng = np.random.default_rng(0)
    prior = _prior(rng)
    A = rng.standard_normal((5, prior.n_genes))
    assert prior.error_reduction(A) == pytest.approx(_dense_error_reduction(prior, A), rel=1e-8)
    value, grad = prior.gradient(A)
    assert value == pytest.approx(_dense_error_reduction(prior, A), rel=1e-8)
    step = 1e-6
    for i, j in [(0, 0), (2, 17), (4, 59)]:
        bumped = A.copy()
        bumped[i, j] += step
        lowered = A.copy()
        lowered[i, j] -= step
        numeric = (_dense_error_reduction(prior, bumped) - _dense_error_reduction(prior, lowered)) / (2 * step)
        assert grad[i, j] == pytest.approx(numeric, rel=1e-4, abs=1e-7)


def test_error_reduction_depends_only_on_the_row_space():
    rng = np.random.default_rng(1)
    prior = _prior(rng)
    A = rng.standard_normal((6, prior.n_genes))
    mixed = rng.standard_normal((6, 6)) @ A
    assert prior.error_reduction(mixed) == pytest.approx(prior.error_reduction(A), rel=1e-7)


def test_measuring_every_gene_without_noise_recovers_everything():
    rng = np.random.default_rng(2)
    prior = _prior(rng, n_genes=30, noise_variance=0.0)
    assert prior.recovered_fraction(np.eye(30)) == pytest.approx(1.0, rel=1e-6)


def test_prior_fit_estimates_noise_from_the_signal_power():
    rng = np.random.default_rng(3)
    X = rng.uniform(0, 5, (80, 40))
    prior = DesignPrior.fit(X, 2.0, random_state=0)
    assert prior.noise_variance == pytest.approx(np.mean(X**2) / 4)
    np.testing.assert_allclose(prior.mean, X.mean(axis=0))
    assert DesignPrior.fit(X, np.inf, random_state=0).noise_variance == 0.0


# --------------------------------------------------------------------------- learned
def test_learned_design_spans_known_top_directions_when_they_hold_a_positive_vector():
    rng = np.random.default_rng(4)
    prior = _prior(rng, positive_directions=True, noise_variance=0.1)
    top = np.linalg.eigh(_dense_sigma(prior))[1][:, ::-1][:, :4]
    A = learned_design(prior, 4, nonnegative_basis="offset")
    assert A.min() >= 0 and np.allclose(A.max(axis=1), 1.0)
    assert np.degrees(subspace_angles(A.T, top)).max() < 1e-4
    assert prior.error_reduction(A) == pytest.approx(_dense_error_reduction(prior, top.T), rel=1e-6)


def test_split_design_measures_the_leading_directions_exactly():
    rng = np.random.default_rng(18)
    prior = _prior(rng)
    top = np.linalg.eigh(_dense_sigma(prior))[1][:, ::-1][:, :3]
    A = learned_design(prior, 6)  # default split: positive and negative parts of 3 directions
    assert A.shape == (6, prior.n_genes) and A.min() >= 0 and np.allclose(A.max(axis=1), 1.0)
    for k in range(3):  # rows 2k and 2k+1 hold the two signs of direction k, nothing else
        signs = {tuple(A[2 * k] > 0), tuple(A[2 * k + 1] > 0)}
        assert signs == {tuple(top[:, k] > 0), tuple(top[:, k] < 0)}
    assert np.degrees(subspace_angles(A.T, top)).max() < 1e-4


def test_learned_design_beats_random_designs_of_any_kind():
    rng = np.random.default_rng(105)  # not a design seed below: seed 5 would draw the factors themselves
    prior = _prior(rng, n_genes=200, n_factors=30)  # variance spread over many directions, as in real data
    offset = prior.error_reduction(learned_design(prior, 12, nonnegative_basis="offset"))
    split = prior.error_reduction(learned_design(prior, 12))  # measures 6 directions exactly
    for random_design in (gaussian_design, nonnegative_design, binary_pool_design):
        scores = [prior.error_reduction(random_design(12, prior.n_genes, random_state=s)) for s in range(10)]
        assert offset > max(scores)
        assert split > np.median(scores)


def test_learned_design_is_nearly_optimal_when_the_top_directions_are_not_positive():
    rng = np.random.default_rng(6)
    prior = _prior(rng)  # Gaussian factors: the top subspace holds no positive vector
    d = 6
    top = np.linalg.eigh(_dense_sigma(prior))[1][:, ::-1][:, :d].T
    unconstrained = _dense_error_reduction(prior, top)
    constrained = prior.error_reduction(learned_design(prior, d, nonnegative_basis="offset"))
    assert constrained <= unconstrained * (1 + 1e-9)
    # d - 1 top directions plus a positive vector lose at most the d-th direction's share
    assert constrained >= _dense_error_reduction(prior, top[: d - 1])


@pytest.mark.parametrize("basis", ["split", "offset"])
@pytest.mark.parametrize("ratio", [3.0, 50.0])
def test_learned_design_weight_ratio_cap_holds(ratio, basis):
    rng = np.random.default_rng(7)
    prior = _prior(rng)
    free = learned_design(prior, 5, nonnegative_basis=basis)
    capped = learned_design(prior, 5, nonnegative_basis=basis, max_weight_ratio=ratio)
    nonzero = np.where(capped > 0, capped, np.nan)
    assert np.all(np.nanmax(nonzero, axis=1) / np.nanmin(nonzero, axis=1) <= ratio * (1 + 1e-9))
    if basis == "offset":  # offsets keep the row space
        assert prior.error_reduction(capped) == pytest.approx(prior.error_reduction(free), rel=1e-6)
    else:  # split drops the small weights only
        np.testing.assert_array_equal(capped[capped > 0], free[capped > 0])
        assert np.all(free[(capped == 0) & (free > 0)] < 1.0 / ratio)
    with pytest.raises(InputError, match="max_weight_ratio"):
        learned_design(prior, 5, max_weight_ratio=1.0)


# --------------------------------------------------------------------------- learned pools
@pytest.mark.parametrize("pools_per_gene, cap", [(3, None), (2, 12), (1, 8)])
def test_learned_pools_meet_the_limits_exactly(pools_per_gene, cap):
    rng = np.random.default_rng(8)
    prior = _prior(rng)
    A = learned_pool_design(prior, 10, pools_per_gene=pools_per_gene, max_genes_per_pool=cap, random_state=0)
    assert set(np.unique(A)) <= {0.0, 1.0}
    np.testing.assert_array_equal(A.sum(axis=0), pools_per_gene)
    if cap is not None:
        assert A.sum(axis=1).max() <= cap


def test_pool_search_improves_on_its_random_start_and_beats_random_pools():
    rng = np.random.default_rng(9)
    prior = _prior(rng, n_genes=80)
    start = binary_pool_design(10, 80, random_state=1)
    searched, score = _move_search(prior, start, cap=80, max_iter=200)
    assert score == pytest.approx(prior.error_reduction(searched))
    total = prior.total_variance()  # compare the error left: random pools already remove most of it
    assert total - score < 0.7 * (total - prior.error_reduction(start))
    np.testing.assert_array_equal(searched.sum(axis=0), 3)
    learned = prior.error_reduction(learned_pool_design(prior, 10, random_state=0))
    best_random = max(prior.error_reduction(binary_pool_design(10, 80, random_state=s)) for s in range(20))
    assert total - learned < 0.7 * (total - best_random)


def test_learned_pools_are_seeded():
    prior = _prior(np.random.default_rng(10))
    np.testing.assert_array_equal(learned_pool_design(prior, 8, random_state=3),
                                  learned_pool_design(prior, 8, random_state=3))


# --------------------------------------------------------------------------- landmarks
def test_landmark_rows_are_one_hot_on_distinct_genes():
    prior = _prior(np.random.default_rng(11))
    for A in (landmark_design(prior, 12), random_landmark_design(12, prior.n_genes, random_state=0)):
        np.testing.assert_array_equal(A.sum(axis=1), 1.0)
        assert set(np.unique(A)) == {0.0, 1.0}
        assert len(set(np.argmax(A, axis=1))) == 12


def test_landmarks_are_close_to_exact_greedy_selection_and_beat_random_genes():
    rng = np.random.default_rng(12)
    prior = _prior(rng, n_genes=40)
    chosen = []
    for _ in range(6):  # exact greedy on the dense covariance
        scores = [-np.inf if j in chosen else _dense_error_reduction(prior, np.eye(40)[chosen + [j]])
                  for j in range(40)]
        chosen.append(int(np.argmax(scores)))
    exact = _dense_error_reduction(prior, np.eye(40)[chosen])
    ours = prior.error_reduction(landmark_design(prior, 6))
    assert ours >= 0.97 * exact
    random_scores = [prior.error_reduction(random_landmark_design(6, 40, random_state=s)) for s in range(30)]
    assert ours > max(random_scores)


def test_first_landmark_is_the_best_single_gene_when_genes_have_no_private_variance():
    rng = np.random.default_rng(13)
    prior = _prior(rng, n_genes=30)
    prior.psi[:] = 1e-9  # the formula is then exact
    scores = [_dense_error_reduction(prior, np.eye(30)[[j]]) for j in range(30)]
    assert landmark_genes(prior, 1)[0] == int(np.argmax(scores))


# --------------------------------------------------------------------------- best of random pools
def test_best_of_random_pools_keeps_the_best_candidate_and_beats_the_median():
    rng = np.random.default_rng(14)
    prior = _prior(rng, n_genes=20)
    X = _samples(rng, prior, 60)
    A, scores = best_of_random_pools(X, 12, snr=2.0, n_candidates=60, random_state=0, return_scores=True)
    kept = scores[np.isfinite(scores)]
    assert 5 <= kept.size < 60  # some candidates fail the coherence filter (C(12, 3) = 220 pool sets)
    assert np.nanmax(scores) > np.nanmedian(scores)
    np.testing.assert_array_equal(A.sum(axis=0), 3)
    assert _passes_filters(A, 0.8, 4.0)
    again = best_of_random_pools(X, 12, snr=2.0, n_candidates=60, random_state=0)
    np.testing.assert_array_equal(A, again)


def test_best_of_random_pools_falls_back_to_the_least_coherent_when_none_pass():
    rng = np.random.default_rng(17)
    prior = _prior(rng, n_genes=60)
    X = _samples(rng, prior, 40)
    with pytest.warns(UserWarning, match="coherence filter"):
        A = best_of_random_pools(X, 6, snr=2.0, n_candidates=10, random_state=0)
    np.testing.assert_array_equal(A.sum(axis=0), 3)


def test_cisi_filters_reject_indistinguishable_genes_and_unbalanced_usage():
    A = binary_pool_design(6, 10, pools_per_gene=3, random_state=0)
    assert _passes_filters(A, 0.8, 4.0) == (np.unique(A.T, axis=0).shape[0] == 10)
    twin = A.copy()
    twin[:, 1] = twin[:, 0]
    assert not _passes_filters(twin, 0.8, 4.0)
    unbalanced = np.zeros((6, 4))
    unbalanced[:5, 0] = 1
    unbalanced[0, 1:] = 1
    unbalanced[[1, 2, 3], [1, 2, 3]] = 1
    assert not _passes_filters(unbalanced, 0.99, 2.0)  # gene 0 in 5 pools, others in 2


# --------------------------------------------------------------------------- bad input
def test_impossible_limits_and_sizes_are_refused_with_the_fix():
    rng = np.random.default_rng(15)
    X = rng.uniform(0, 3, (40, 30))
    with pytest.raises(InputError, match="pools_per_gene=6 exceeds the 5 measurements"):
        make_design("learned-pools", 5, X_train=X, snr=2, pools_per_gene=6)
    with pytest.raises(InputError, match="needs at least 18 per pool"):
        make_design("learned-pools", 5, X_train=X, snr=2, max_genes_per_pool=10)
    with pytest.raises(InputError, match="more measurements \\(31\\) than genes \\(30\\)"):
        make_design("learned", 31, X_train=X, snr=2)
    with pytest.raises(InputError, match="landmarks"):
        make_design("landmarks-random", 31, 30)
    with pytest.raises(InputError, match="X_train"):
        make_design("learned", 5, 30)
    bad = X.copy()
    bad[3, 4] = np.nan
    with pytest.raises(InputError, match="NaN"):
        make_design("learned", 5, X_train=bad, snr=2)
    with pytest.warns(UserWarning, match="from 8 training samples"):
        make_design("learned", 3, X_train=X[:8], snr=2)


# --------------------------------------------------------------------------- files, runner, pipeline
def test_design_file_provenance_is_written_and_checked(tmp_path):
    A = np.abs(np.random.default_rng(16).standard_normal((3, 5)))
    names = [f"g{i}" for i in range(5)]
    path = tmp_path / "design.csv"
    write_design_csv(path, A, names, provenance={"kind": "learned", "snr": 2.0})
    record = read_design_provenance(path)
    assert record["kind"] == "learned" and record["n_measurements"] == 3
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(read_design_csv(path)[0], A)
    text = path.read_text().splitlines()
    text[1] = text[1].rsplit(",", 1)[0] + ",0.5"
    path.write_text("\n".join(text) + "\n")
    with pytest.warns(UserWarning, match="edited after it was written"):
        read_design_csv(path)
    write_design_csv(path, A, names)  # no provenance: the stale sidecar goes
    assert read_design_provenance(path) is None


@pytest.mark.parametrize("kind", ["learned", "learned-pools", "landmarks", "best-of-random-pools"])
def test_runner_learns_designs_from_the_training_split_only(tmp_path, monkeypatch, kind):
    import csgene.design as design_module
    from csgene.experiment import ExperimentConfig, run_experiment

    seen = []
    original = design_module.make_design

    def spy(kind, n_measurements, n_genes=None, random_state=None, *, X_train=None, **kwargs):
        seen.append(None if X_train is None else X_train.copy())
        return original(kind, n_measurements, n_genes, random_state, X_train=X_train, **kwargs)

    monkeypatch.setattr(design_module, "make_design", spy)
    options = {"n_candidates": 20} if kind == "best-of-random-pools" else {}
    config = ExperimentConfig(methods=["gaussian"], measurements=[5], repeats=1, samples=50, genes=30,
                              design=kind, design_options=options, test_fraction=0.2, synthetic_modules=5)
    rows = run_experiment(config, tmp_path / "run", quiet=True)
    assert len(seen) == 1 and seen[0].shape == (40, 30)  # 50 samples, 10 held out for testing
    assert rows[0]["pearson_sample_centered"] > 0
    record = json.loads((tmp_path / "run" / "run.json").read_text())["designs"][0]
    A, _ = read_design_csv(tmp_path / "run" / record["file"])
    from csgene.measure import design_fingerprint

    assert record["sha256"] == design_fingerprint(A)
    assert kind == "best-of-random-pools" or 0 < record["recovered_fraction"] <= 1


def test_pipeline_learns_its_design_and_saves_it(tmp_path):
    from csgene.datasets import make_expression
    from csgene.pipeline import CompressedSensing

    counts = np.asarray(make_expression(n_samples=80, n_genes=40, n_modules=5, random_state=0).counts, float)
    model = CompressedSensing("gaussian", n_measurements=6, design="learned-pools", snr=2.0, random_state=0,
                              design_options={"pools_per_gene": 2}).fit(counts)
    np.testing.assert_array_equal(model.design_.sum(axis=0), 2)
    path = model.save(tmp_path / "m.h5")
    np.testing.assert_array_equal(CompressedSensing.load(path).design_, model.design_)


def test_cli_learns_a_design_a_lab_can_use_end_to_end(tmp_path, capsys, caplog):
    from csgene import io
    from csgene.cli import main
    from csgene.datasets import make_expression

    data = make_expression(120, 60, 6, random_state=1)
    path = tmp_path / "train.csv"
    io.write(path, io.ExpressionData.from_array(data.counts, gene_names=data.gene_names))
    design = tmp_path / "pools.csv"
    assert main(["design", "--learn", str(path), "--kind", "learned-pools", "--measurements", "8",
                 "--pools-per-gene", "2", "--snr", "2", "--out", str(design), "--quiet"]) == 0
    A, names = read_design_csv(design, gene_names=list(data.gene_names))
    np.testing.assert_array_equal(A.sum(axis=0), 2)
    record = read_design_provenance(design)
    assert record["kind"] == "learned-pools" and record["options"] == {"pools_per_gene": 2}
    assert record["snr"] == 2.0 and record["n_training_samples"] == 120 and record["space"] == "log1p"
    model = tmp_path / "model.h5"
    assert main(["fit", str(path), "--method", "gaussian", "--design-file", str(design), "--snr", "2",
                 "--out", str(model), "--quiet"]) == 0
    from csgene.pipeline import CompressedSensing

    loaded = CompressedSensing.load(model)
    np.testing.assert_array_equal(loaded.design_, A)
    assert loaded.n_measurements == 8 and loaded.provenance_["design_kind"] == "learned-pools"
    capsys.readouterr()
    assert main(["info", str(model)]) == 0
    assert f"design file: {design.resolve()} (learned-pools)" in capsys.readouterr().out
    # applying a log-space design to raw values is allowed but said
    with caplog.at_level("WARNING", logger="csgene"):
        assert main(["simulate", str(path), "--design-file", str(design), "--out", str(tmp_path / "y.csv")]) == 0
    assert "learned for log1p-transformed profiles" in caplog.text + capsys.readouterr().err
    # a learned kind without training data, and an option the kind does not take, are refused
    assert main(["design", "--genes-from", str(path), "--kind", "landmarks", "--measurements", "5",
                 "--out", str(tmp_path / "x.csv")]) != 0
    assert "--learn DATA" in capsys.readouterr().err
    assert main(["design", "--learn", str(path), "--kind", "learned", "--measurements", "5",
                 "--pools-per-gene", "2", "--out", str(tmp_path / "x.csv")]) != 0
    assert "does not take" in capsys.readouterr().err
