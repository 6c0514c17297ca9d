"""Dictionary learners: scikit-learn estimators whose ``components_`` is (n_modules, n_genes).

Every learner exposes ``components_``, ``n_components_``, ``mean_`` (zeros unless it centers),
``transform`` (codes, (n_samples, n_modules)), ``inverse_transform`` (profiles) and
``recovery_kind_``, the decoder hint: ``"least_squares"`` for SVD bases, ``"omp"`` for sparse
dictionaries.

==================  =======================  ===============================================
runner name         class                    what it is
==================  =======================  ===============================================
``svd``             :class:`SVDDictionary`   top singular vectors (the seed's SVD)
``topk-svd``        :class:`TopKSVD`         top-k singular vectors only (the seed's "k-SVD")
``ksvd``            :class:`KSVD`            Aharon et al.'s K-SVD with OMP coding
``snmf``            :class:`SparseNMF`       L1-sparse NMF, unit-norm modules
``smaf``            :class:`SMAF`            Cleary et al.'s sparse module activity factorization
==================  =======================  ===============================================
"""

from ._base import LEAST_SQUARES, OMP, match_score
from .ksvd import KSVD
from .smaf import SMAF
from .snmf import SparseNMF
from .svd import SVDDictionary, TopKSVD

__all__ = [
    "KSVD",
    "LEAST_SQUARES",
    "OMP",
    "SMAF",
    "SVDDictionary",
    "SparseNMF",
    "TopKSVD",
    "match_score",
]
