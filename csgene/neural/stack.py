"""SMAF+MLP stack: an MLP that refines SMAF's recovered profiles (the seed paper's best method
at 300 measurements).

The refiner (genes + d → 500 → 500 → 500 → genes) takes SMAF's recovered profile together with
the measurements, plus a linear path d → genes from the measurements alone that starts at ridge
regression, so training starts from ridge and the network learns what SMAF's recovery adds. It is trained on *out-of-fold* SMAF recoveries of the
training samples: the training set is split in ``n_folds`` folds, and each sample is recovered by
the SMAF dictionary learned on the other folds, from measurements simulated afresh for every
batch with the design and the noise level. Recoveries of samples the dictionary was trained on
would be too good, and the refiner would learn to trust them.
"""

from __future__ import annotations

import numpy as np

from .._device import torch_device
from .._random import draw_seed
from .._validation import check_matrix, check_positive_int
from ..dictionary import SMAF
from ..dictionary_method import DictionaryMethod
from ._base import NeuralMethod
from ._regression import fit_regression_mlp
from ._torch import import_torch, to_tensor
from ._training import add_measurement_noise


class SMAFStack(NeuralMethod):
    """SMAF recovery refined by an MLP trained on out-of-fold SMAF recoveries.

    Parameters
    ----------
    n_modules : int
        SMAF dictionary size.
    sparsity : int
        SMAF's k (active modules per sample).
    n_folds : int
        Folds for the out-of-fold training recoveries.
    hidden : tuple of int
        Hidden layer widths of the refiner.
    dropout, lr, weight_decay, max_epochs, batch_size, patience, validation_fraction
        Refiner training settings (see :func:`csgene.neural._regression.fit_regression_mlp`).
    center : bool
        Learn SMAF on deviations from the mean (``smaf-centered``).
    random_state : int or None
    device : {"auto", "cpu", "cuda"}
    verbose : int
    """

    name = "smaf+mlp"

    def __init__(self, n_modules=150, *, sparsity=15, n_folds=3, hidden=(500, 500, 500),
                 dropout=0.1, lr=6e-4, weight_decay=1e-5, max_epochs=40, batch_size=128, patience=8,
                 validation_fraction=0.15, center=True, random_state=None, device="auto", verbose=0):
        self._store_params(locals())

    def _smaf(self, seed):
        learner = SMAF(self.n_modules, sparsity=self.sparsity, random_state=seed, center=self.center,
                       device=self.device)
        return DictionaryMethod(learner, sparsity=self.sparsity, name="smaf", device=self.device)

    def fit(self, X_train):
        """Fit SMAF on all training samples and on each fold's complement."""
        X = check_matrix(X_train, "X_train", min_rows=10)
        n_folds = check_positive_int(self.n_folds, "n_folds", minimum=2, maximum=X.shape[0] // 5)
        seed = draw_seed(self.random_state)
        rng = np.random.default_rng(seed)
        self.X_train_ = X
        self.n_genes_ = X.shape[1]
        self.folds_ = np.array_split(rng.permutation(X.shape[0]), n_folds)
        self.fold_methods_ = []
        for i, held in enumerate(self.folds_):
            kept = np.setdiff1d(np.arange(X.shape[0]), held)
            self.fold_methods_.append(self._smaf(seed + 1 + i).fit(X[kept]))
        self.smaf_ = self._smaf(seed).fit(X)
        self.seed_ = seed
        return self

    def fit_design(self, A, snr=np.inf, random_state=None):
        """Train the refiner on out-of-fold SMAF recoveries measured with design ``A``.

        Every training batch draws fresh measurement noise at the given SNR and recovers each
        sample with the SMAF dictionary of the folds that did not see it, so the refiner never
        sees the same noisy input twice (the augmentation that keeps the measurement MLP ahead
        of ridge), and never sees a recovery better than it will get at test time.
        """
        torch = import_torch()
        self._require_fitted("smaf_", "fit(X_train)")
        A, snr = self._check_design(A, snr)
        seed = draw_seed(self.seed_ if random_state is None else random_state)
        device = torch_device(self.device)
        for method in (*self.fold_methods_, self.smaf_):
            method.fit_design(A, snr=snr)
        fold_of = np.empty(len(self.X_train_), dtype=np.intp)
        for i, held in enumerate(self.folds_):
            fold_of[held] = i
        X_t = to_tensor(self.X_train_, device)
        A_t = to_tensor(A, device)

        def out_of_fold_input(rows, generator):
            index = rows[:, 0].long()
            Y = add_measurement_noise(X_t[index], snr, generator) @ A_t.T
            Y_host = Y.cpu().numpy().astype(np.float64)
            folds = fold_of[index.cpu().numpy()]
            recovered = np.empty((len(folds), self.n_genes_))
            for fold in np.unique(folds):
                mine = folds == fold
                recovered[mine] = self.fold_methods_[fold].recover(Y_host[mine])
            return torch.cat([to_tensor(recovered, device), Y], dim=1)

        self.network_ = fit_regression_mlp(
            np.arange(len(self.X_train_), dtype=np.float32)[:, None], self.X_train_.astype(np.float32),
            make_input=out_of_fold_input, hidden=tuple(self.hidden), dropout=float(self.dropout),
            linear_skip=True, lr=self.lr, weight_decay=self.weight_decay, max_epochs=self.max_epochs,
            batch_size=self.batch_size, patience=self.patience,
            validation_fraction=self.validation_fraction, seed=seed, device=device,
            verbose=self.verbose, label=self.name,
            linear_columns=np.arange(self.n_genes_, self.n_genes_ + A.shape[0]),
        )
        self.design_ = A
        self.history_ = self.network_.history.as_dict()
        return self

    def recover(self, Y):
        """SMAF recovery of Y, refined by the MLP; (n_samples, n_genes)."""
        Y = self._check_measurements(Y)
        return self.network_.predict(np.hstack([self.smaf_.recover(Y), Y]).astype(np.float32))
