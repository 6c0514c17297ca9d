"""Shared fixtures: the real data in ../shared/data, skipped with a clear reason when absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

# CI must be deterministic: property tests draw the same examples on every run
settings.register_profile("csgene", derandomize=True, deadline=None)
settings.load_profile("csgene")

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("CSGENE_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


def shared_file(name: str) -> Path:
    """Path of a file in ../shared/data, or skip the test saying what is missing."""
    path = SHARED_DATA / name
    if not path.exists():
        pytest.skip(
            f"real-data test needs {path} (the project's ../shared/data beside the repository, "
            f"or set CSGENE_SHARED_DATA); it is absent on this machine"
        )
    return path


@pytest.fixture
def archs4_gen2() -> Path:
    """ARCHS4 generation-2 layout slice (genes × samples on disk), 500 samples × 1,000 genes."""
    return shared_file("archs4_slice_a.h5")


@pytest.fixture
def archs4_gen1() -> Path:
    """ARCHS4 generation-1 layout slice (samples × genes on disk), 500 samples × 1,000 genes."""
    return shared_file("archs4_slice_b.h5")


@pytest.fixture
def tcga_csv() -> Path:
    """TCGA RSEM CSV (gzipped), 172 samples × 20,531 genes."""
    return shared_file("tcga_rnaseq_acc_chol_dlbc.csv.gz")


@pytest.fixture
def lcl_csv() -> Path:
    """LCL raw counts CSV (gzipped), 170 samples × 52,580 genes."""
    return shared_file("lcl_counts.csv.gz")
