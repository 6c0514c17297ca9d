"""Sparse reconstruction kernel against ``codes_to_dense(...) @ components`` and a naive loop."""

from __future__ import annotations

import numpy as np
import pytest

from csgene_kernels.omp import codes_to_dense
from csgene_kernels.reconstruct import GENES_PER_TILE, SAMPLES_PER_TILE, reconstruct
from csgene_kernels.threads import limit_threads

import naive


def random_codes(rng, n, k, m, dtype, unused_fraction=0.3):
    """Codes with distinct atoms per row and a share of -1 slots (value 0 there)."""
    indices = np.array([rng.choice(m, k, replace=False) for _ in range(n)], dtype=np.int64)
    unused = rng.random((n, k)) < unused_fraction
    indices[unused] = -1
    values = rng.standard_normal((n, k)).astype(dtype)
    values[unused] = 0.0
    return indices, values


# Shapes that leave partial tiles in both directions.
SHAPES = [(SAMPLES_PER_TILE + 37, 12, 40, 2 * GENES_PER_TILE + 75), (7, 3, 5, 11), (1, 1, 1, 1)]


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-12), (np.float32, 1e-5)])
@pytest.mark.parametrize("n, k, m, g", SHAPES)
def test_matches_dense_product_and_loop(dtype, rtol, n, k, m, g):
    rng = np.random.default_rng(n + k + m + g)
    components = rng.standard_normal((m, g)).astype(dtype)
    indices, values = random_codes(rng, n, k, m, dtype)
    got = reconstruct(indices, values, components)
    assert got.dtype == dtype and got.shape == (n, g)
    expected = naive.reconstruct(indices, values, components)
    scale = np.abs(values).sum(axis=1, keepdims=True) * np.abs(components).max()
    assert np.all(np.abs(got - expected) <= rtol * scale)
    dense = codes_to_dense(indices, values, m) @ components
    np.testing.assert_allclose(got, dense, rtol=0, atol=float(np.max(rtol * scale)))


def test_unused_slots_anywhere_and_all_unused_rows():
    rng = np.random.default_rng(3)
    components = rng.standard_normal((6, 30))
    indices = np.array([[2, -1, 5], [-1, -1, -1], [-1, 0, -1]], dtype=np.int64)
    values = np.array([[1.5, 99.0, -2.0], [7.0, 7.0, 7.0], [0.0, 3.0, 0.0]])  # -1 slots ignored
    got = reconstruct(indices, values, components)
    np.testing.assert_allclose(got[0], 1.5 * components[2] - 2.0 * components[5], rtol=1e-14)
    np.testing.assert_array_equal(got[1], np.zeros(30))
    np.testing.assert_allclose(got[2], 3.0 * components[0], rtol=1e-14)


def test_fortran_components_and_empty_codes():
    rng = np.random.default_rng(5)
    components = np.asfortranarray(rng.standard_normal((9, 50)))
    indices, values = random_codes(rng, 20, 4, 9, np.float64)
    np.testing.assert_allclose(reconstruct(indices, values, components),
                               naive.reconstruct(indices, values, components), rtol=1e-12, atol=1e-12)
    empty = reconstruct(np.zeros((4, 0), np.int64), np.zeros((4, 0)), components)
    np.testing.assert_array_equal(empty, np.zeros((4, 50)))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_one_and_two_threads_bit_identical(dtype):
    rng = np.random.default_rng(7)
    components = rng.standard_normal((30, 3 * GENES_PER_TILE + 1)).astype(dtype)
    indices, values = random_codes(rng, 2 * SAMPLES_PER_TILE + 3, 10, 30, dtype)
    with limit_threads(numba_threads=1):
        one = reconstruct(indices, values, components)
    with limit_threads(numba_threads=2):
        two = reconstruct(indices, values, components)
    np.testing.assert_array_equal(one, two)
