"""SMAF+MLP stack: out-of-fold training, and it refines rather than degrades."""

import numpy as np
import pytest

pytest.importorskip("torch", reason="needs the nn extra: pip install 'csgene[nn]'")

from csgene.baselines import RidgeDecoder  # noqa: E402
from csgene.datasets import make_expression  # noqa: E402
from csgene.design import make_design  # noqa: E402
from csgene.measure import measure  # noqa: E402
from csgene.neural import SMAFStack  # noqa: E402


def _mse(a, b):
    return float(np.mean((a - b) ** 2))


def test_stack_folds_are_disjoint_and_refiner_beats_ridge_and_smaf():
    """Out-of-fold folds partition the training set; the stack's error is below SMAF's and 1% below ridge's."""
    data = make_expression(n_samples=360, n_genes=120, n_modules=10, random_state=0)
    X = np.log1p(data.counts)
    train, test = X[:300], X[300:]
    A = make_design("gaussian", 40, X.shape[1], random_state=1)
    Y = measure(test, A, snr=4.0, random_state=2)
    stack = SMAFStack(30, sparsity=5, n_folds=3, max_epochs=30, random_state=0, device="cpu").fit(train)
    folds = stack.folds_
    assert sum(len(f) for f in folds) == len(train)
    assert len(np.unique(np.concatenate(folds))) == len(train)
    stack.fit_design(A, snr=4.0, random_state=3)
    stacked = _mse(stack.recover(Y), test)
    smaf_only = _mse(stack.smaf_.recover(Y), test)
    ridge = _mse(RidgeDecoder(random_state=0).fit(train).fit_design(A, snr=4.0, random_state=3).recover(Y), test)
    assert stacked < smaf_only
    assert stacked < 0.99 * ridge  # here 0.97 × ridge: the refiner adds to ridge, not just matches it
    assert min(stack.history_["val"]) <= stack.history_["val"][0]
