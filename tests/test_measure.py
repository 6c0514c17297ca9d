"""Tests of measurement designs, noise and design files, against numpy recomputations."""

from __future__ import annotations

import math
import os
import warnings

import numpy as np
import pytest
from scipy import stats

from csgene.exceptions import DataFormatError, InputError
from csgene.design import (
    DESIGNS,
    binary_pool_design,
    gaussian_design,
    gaussian_unit_design,
    is_learned,
    make_design,
    nonnegative_design,
    read_design_csv,
    write_design_csv,
)
from csgene.measure import add_noise, measure

RANDOM_DESIGNS = sorted(kind for kind in DESIGNS if not is_learned(kind))


def _max_abs_row_correlation(A: np.ndarray) -> float:
    corr = np.abs(np.corrcoef(A))
    np.fill_diagonal(corr, 0.0)
    return float(corr.max())


# --------------------------------------------------------------------------- designs
@pytest.mark.filterwarnings("ignore:gaussian-unit design")  # 30 rows of 31 genes cannot all meet 0.2
@pytest.mark.parametrize("kind", RANDOM_DESIGNS)
@pytest.mark.parametrize("shape", [(1, 5), (7, 40), (30, 31)])
def test_every_design_has_shape_and_follows_its_seed(kind, shape):
    a = make_design(kind, *shape, random_state=11)
    b = make_design(kind, *shape, random_state=11)
    assert a.shape == shape and a.dtype == np.float64 and np.isfinite(a).all()
    np.testing.assert_array_equal(a, b)
    if shape[0] > 1:
        c = make_design(kind, *shape, random_state=12)
        assert not np.array_equal(a, c)


def test_gaussian_design_is_standard_normal_unscaled():
    A = gaussian_design(100, 300, random_state=0)
    assert stats.kstest(A.ravel(), "norm").pvalue > 1e-3
    assert A.std() == pytest.approx(1.0, abs=0.01)


def test_nonnegative_design_is_uniform_unit_interval():
    A = nonnegative_design(100, 300, random_state=0)
    assert A.min() >= 0 and A.max() < 1
    assert stats.kstest(A.ravel(), "uniform").pvalue > 1e-3


@pytest.mark.parametrize(
    "n_measurements, n_genes, threshold",
    [(20, 1000, 0.2), (90, 100, 0.2), (40, 400, 0.08), (2, 2, 1.0)],
)
def test_gaussian_unit_rows_are_unit_norm_and_weakly_correlated(n_measurements, n_genes, threshold):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a relaxed threshold would warn
        A = gaussian_unit_design(n_measurements, n_genes, max_correlation=threshold, random_state=3)
    np.testing.assert_allclose(np.linalg.norm(A, axis=1), 1.0, rtol=1e-12)
    assert _max_abs_row_correlation(A) <= threshold + 1e-12


def test_gaussian_unit_rejects_rows_that_plain_gaussian_rows_would_keep():
    # 0.08 is about 1.6 sd of the correlation of random 400-gene rows: plain draws exceed it.
    plain = gaussian_design(40, 400, random_state=3)
    assert _max_abs_row_correlation(plain) > 0.08
    assert _max_abs_row_correlation(gaussian_unit_design(40, 400, max_correlation=0.08, random_state=3)) <= 0.08


def test_gaussian_unit_without_rejection_is_normalised_gaussian():
    plain = gaussian_design(15, 50, random_state=5)
    unit = gaussian_unit_design(15, 50, max_correlation=1.0, random_state=5)
    np.testing.assert_allclose(unit, plain / np.linalg.norm(plain, axis=1, keepdims=True), rtol=1e-12)


def test_gaussian_unit_relaxes_with_a_warning_or_raises_when_strict():
    with pytest.warns(UserWarning, match="could not keep"):
        A = gaussian_unit_design(8, 10, max_correlation=0.05, max_tries=50, random_state=0)
    np.testing.assert_allclose(np.linalg.norm(A, axis=1), 1.0, rtol=1e-12)
    with pytest.raises(InputError, match="max_correlation"):
        gaussian_unit_design(8, 10, max_correlation=0.05, max_tries=50, strict=True, random_state=0)


@pytest.mark.parametrize(
    "n_genes, options",
    [(1, {}), (10, dict(max_correlation=0.0)), (10, dict(max_correlation=1.5)), (10, dict(max_tries=0))],
)
def test_gaussian_unit_bad_arguments(n_genes, options):
    with pytest.raises(InputError):
        gaussian_unit_design(1, n_genes, **options)


@pytest.mark.parametrize("n_measurements, n_genes, pools_per_gene", [(10, 40, 2), (7, 100, 3), (5, 5, 5), (1, 9, 1), (50, 1000, 4)])
def test_binary_pools_every_gene_in_exactly_that_many_balanced_pools(n_measurements, n_genes, pools_per_gene):
    A = binary_pool_design(n_measurements, n_genes, pools_per_gene=pools_per_gene, random_state=2)
    assert set(np.unique(A)) <= {0.0, 1.0}
    np.testing.assert_array_equal(A.sum(axis=0), pools_per_gene)
    sizes = A.sum(axis=1)
    assert sizes.max() - sizes.min() <= 1
    assert sizes.sum() == n_genes * pools_per_gene


def test_binary_pools_default_and_randomness():
    np.testing.assert_array_equal(binary_pool_design(10, 30, random_state=0).sum(axis=0), 3)
    np.testing.assert_array_equal(binary_pool_design(2, 30, random_state=0).sum(axis=0), 2)
    # Pools are random: gene pairs sharing a pool vary, unlike a fixed band design.
    A = binary_pool_design(20, 200, pools_per_gene=2, random_state=0)
    overlaps = A.T @ A
    np.fill_diagonal(overlaps, 0)
    assert (overlaps > 0).sum(axis=1).std() > 0


def test_binary_pools_too_many_pools_per_gene():
    with pytest.raises(InputError, match="pools_per_gene"):
        binary_pool_design(4, 10, pools_per_gene=5)


@pytest.mark.parametrize("kind", [k for k in RANDOM_DESIGNS if k != "landmarks-random"])
@pytest.mark.filterwarnings("ignore:gaussian-unit design")
def test_more_measurements_than_genes_warns(kind):
    with pytest.warns(UserWarning, match="exceeds n_genes"):
        A = make_design(kind, 12, 10, random_state=0)
    assert A.shape == (12, 10)


@pytest.mark.parametrize("n_measurements", [0, -3, 2.5, True])
def test_bad_measurement_counts(n_measurements):
    with pytest.raises(InputError, match="n_measurements"):
        make_design("gaussian", n_measurements, 10)


def test_make_design_dispatch_and_errors():
    np.testing.assert_array_equal(make_design("binary-pools", 6, 20, random_state=1, pools_per_gene=2).sum(axis=0), 2)
    with pytest.raises(InputError, match="gaussian-unit"):
        make_design("bernoulli", 3, 10)
    with pytest.raises(InputError, match="pools_per_gene"):
        make_design("gaussian", 3, 10, pools_per_gene=2)


# --------------------------------------------------------------------------- noise
@pytest.mark.parametrize("shape", [(1, 1), (3, 50), (40, 7)])
@pytest.mark.parametrize("snr", [0.5, 2.0, 100.0])
def test_noise_norm_is_signal_norm_over_snr(shape, snr):
    X = np.random.default_rng(0).gamma(1.0, size=shape)
    original = X.copy()
    noisy = add_noise(X, snr, random_state=1)
    assert np.linalg.norm(noisy - X) / np.linalg.norm(X) == pytest.approx(1.0 / snr, rel=1e-12)
    np.testing.assert_array_equal(X, original)


def test_noise_is_gaussian_and_seeded():
    X = np.ones((200, 100))
    noise = add_noise(X, 4.0, random_state=2) - X
    assert stats.kstest(noise.ravel() / noise.std(), "norm").pvalue > 1e-3
    np.testing.assert_array_equal(add_noise(X, 4.0, random_state=2), add_noise(X, 4.0, random_state=2))


def test_infinite_snr_adds_nothing_and_zero_signal_gets_zero_noise():
    X = np.random.default_rng(0).random((4, 6))
    out = add_noise(X, math.inf, random_state=0)
    np.testing.assert_array_equal(out, X)
    assert out is not X
    np.testing.assert_array_equal(add_noise(np.zeros((3, 3)), 2.0, random_state=0), 0.0)


def test_noise_keeps_float32():
    X = np.random.default_rng(0).random((5, 8)).astype(np.float32)
    assert add_noise(X, 3.0, random_state=0).dtype == np.float32


@pytest.mark.parametrize("snr", [0.0, -1.0, float("nan"), "10"])
def test_bad_snr(snr):
    with pytest.raises(InputError, match="snr"):
        add_noise(np.ones((2, 2)), snr)


def test_measure_without_noise_is_x_times_a_transposed():
    rng = np.random.default_rng(4)
    X, A = rng.random((9, 25)), rng.standard_normal((6, 25))
    Y = measure(X, A)
    assert Y.shape == (9, 6)
    np.testing.assert_allclose(Y, X @ A.T, rtol=1e-12, atol=1e-12)


def test_measure_profile_noise_is_added_before_measuring():
    rng = np.random.default_rng(5)
    X, A = rng.random((9, 25)), rng.standard_normal((6, 25))
    noisy = add_noise(X, 3.0, random_state=7)
    np.testing.assert_allclose(measure(X, A, snr=3.0, random_state=7), noisy @ A.T, rtol=1e-12)
    assert np.linalg.norm(noisy - X) / np.linalg.norm(X) == pytest.approx(1 / 3.0, rel=1e-12)


def test_measurement_noise_follows_the_same_snr_definition():
    rng = np.random.default_rng(6)
    X, A = rng.random((9, 25)), rng.standard_normal((6, 25))
    clean = X @ A.T
    Y = measure(X, A, measurement_snr=5.0, random_state=8)
    assert np.linalg.norm(Y - clean) / np.linalg.norm(clean) == pytest.approx(0.2, rel=1e-12)


def test_design_noise_is_relative_gaussian_and_shared_by_samples():
    rng = np.random.default_rng(7)
    X, A = rng.standard_normal((80, 30)), rng.standard_normal((5, 30))
    Y = measure(X, A, design_noise=0.1, random_state=9)
    # X has full column rank, so the weights actually used are recoverable exactly.
    used = np.linalg.lstsq(X, Y, rcond=None)[0].T
    relative = (used / A - 1.0) / 0.1
    assert abs(relative.mean()) < 0.2 and relative.std() == pytest.approx(1.0, rel=0.2)
    np.testing.assert_allclose(measure(X, A, design_noise=0.0, random_state=9), X @ A.T, rtol=1e-12)


@pytest.mark.parametrize(
    "X, A, error",
    [
        (np.ones((3, 4)), np.ones((2, 5)), "genes"),
        (np.ones(4), np.ones((2, 4)), "2-D"),
        (np.full((3, 4), np.nan), np.ones((2, 4)), "NaN"),
        (np.ones((3, 4)), [["a", "b", "c", "d"]], "numeric"),
    ],
)
def test_measure_bad_inputs(X, A, error):
    with pytest.raises(InputError, match=error):
        measure(X, A)


def test_measure_bad_design_noise():
    with pytest.raises(InputError, match="design_noise"):
        measure(np.ones((2, 3)), np.ones((1, 3)), design_noise=-0.1)


# --------------------------------------------------------------------------- design files
def _names(n: int) -> list[str]:
    return [f"GENE{i}" for i in range(n)]


def test_csv_round_trip_is_exact_and_has_the_lab_layout(tmp_path):
    A = gaussian_design(4, 6, random_state=0)
    path = tmp_path / "design.csv"
    write_design_csv(path, A, _names(6))
    lines = path.read_text().splitlines()
    assert lines[0] == "gene,m1,m2,m3,m4"
    assert len(lines) == 7 and lines[1].startswith("GENE0,")
    B, names = read_design_csv(path)
    np.testing.assert_array_equal(B, A)
    assert names == _names(6)
    assert os.listdir(tmp_path) == ["design.csv"]  # no temporary file left behind


def test_binary_design_is_written_as_integers(tmp_path):
    A = binary_pool_design(3, 5, pools_per_gene=1, random_state=0)
    path = tmp_path / "pools.csv"
    write_design_csv(path, A, _names(5))
    cells = {cell for line in path.read_text().splitlines()[1:] for cell in line.split(",")[1:]}
    assert cells == {"0", "1"}
    np.testing.assert_array_equal(read_design_csv(path)[0], A)


def test_csv_reorders_columns_to_the_data_gene_order(tmp_path):
    A = nonnegative_design(3, 8, random_state=1)
    path = tmp_path / "design.csv"
    write_design_csv(path, A, _names(8))
    order = np.random.default_rng(0).permutation(8)
    data_genes = [_names(8)[j] for j in order]
    B, names = read_design_csv(path, gene_names=data_genes)
    assert names == data_genes
    np.testing.assert_array_equal(B, A[:, order])


def test_csv_gene_names_with_commas_quotes_and_numpy_arrays(tmp_path):
    names = np.array(['a,b', 'say "hi"', "plain"])
    A = np.arange(6.0).reshape(2, 3)
    write_design_csv(tmp_path / "d.csv", A, names)
    B, read_names = read_design_csv(tmp_path / "d.csv", gene_names=list(names))
    assert read_names == list(names)
    np.testing.assert_array_equal(B, A)


def test_csv_missing_and_extra_genes_are_named(tmp_path):
    path = tmp_path / "design.csv"
    write_design_csv(path, np.ones((2, 4)), _names(4))
    with pytest.raises(InputError, match="missing from it \\(OTHER\\)"):
        read_design_csv(path, gene_names=_names(4) + ["OTHER"])
    with pytest.raises(InputError, match="not in the data \\(GENE3\\)"):
        read_design_csv(path, gene_names=_names(3))


def test_csv_write_checks_names_and_keeps_an_existing_file(tmp_path):
    path = tmp_path / "design.csv"
    write_design_csv(path, np.ones((2, 3)), _names(3))
    before = path.read_text()
    with pytest.raises(InputError, match="one name per column"):
        write_design_csv(path, np.zeros((2, 4)), _names(3))
    with pytest.raises(InputError, match="duplicated"):
        write_design_csv(path, np.zeros((2, 2)), ["x", "x"])
    with pytest.raises(InputError, match="NaN"):
        write_design_csv(path, np.full((2, 3), np.nan), _names(3))
    assert path.read_text() == before
    assert os.listdir(tmp_path) == ["design.csv"]


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("gene,m1\nA,1\nA,2\n", "more than once"),
        ("gene,m1,m2\nA,1\n", "columns"),
        ("gene,m1\nA,one\n", "non-numeric"),
        ("gene,m1\nA,nan\n", "NaN"),
        ("gene,m1\n", "at least one gene row"),
        ("gene\nA\n", "composite"),
    ],
)
def test_csv_malformed_files(tmp_path, text, fragment):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(DataFormatError, match=fragment):
        read_design_csv(path)


def test_csv_missing_file(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        read_design_csv(tmp_path / "nope.csv")
