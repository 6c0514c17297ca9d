"""scikit-learn manners of the learners and of CompressedSensing (issue 18).

``check_estimator`` runs on every learner of csgene.dictionary and on CompressedSensing.
Every check passes today; a check that stops passing for a reason that cannot apply to csgene
goes into EXPECTED_FAILURES with that reason, so it stays tracked instead of silently skipped.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.sparse
from sklearn.base import clone
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.utils.estimator_checks import parametrize_with_checks

from csgene import InputError
from csgene.datasets import make_expression
from csgene.dictionary import KSVD, SMAF, SparseNMF, SVDDictionary, TopKSVD
from csgene.pipeline import CompressedSensing

# sparsity=1: scikit-learn's checks set n_components=1, and a sparsity above it is refused.
ESTIMATORS = [
    SMAF(3, sparsity=1, max_iter=2, random_state=0),
    SparseNMF(3, max_iter=20, random_state=0),
    SparseNMF(3, solver="bcd", max_iter=5, random_state=0),
    KSVD(3, sparsity=1, max_iter=2, random_state=0),
    SVDDictionary(3, random_state=0),
    TopKSVD(2, random_state=0),
    CompressedSensing("svd", n_measurements=3, n_modules=3, sparsity=1, random_state=0),
    CompressedSensing("smaf", n_measurements=3, n_modules=3, sparsity=1, random_state=0,
                      method_options={"decoder": "omp"}),
    # not positive_only: minmax takes negative data
    CompressedSensing("ksvd", preprocess="minmax", n_measurements=3, n_modules=3, sparsity=1, random_state=0),
]

#: check name -> why it cannot apply, per estimator class. Empty: every check passes.
EXPECTED_FAILURES: dict[str, dict[str, str]] = {}


def expected_failed_checks(estimator):
    return EXPECTED_FAILURES.get(type(estimator).__name__, {})


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=expected_failed_checks)
def test_sklearn_compatible(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # SVD clamps n_components on tiny inputs
        check(estimator)


def _counts(n_samples=60, n_genes=40, seed=0):
    data = make_expression(n_samples=n_samples, n_genes=n_genes, n_modules=5, random_state=seed)
    return data.counts, np.asarray(data.gene_names)


def test_positive_only_tag_on_nonnegative_learners():
    assert SMAF(3).__sklearn_tags__().input_tags.positive_only
    assert SparseNMF(3).__sklearn_tags__().input_tags.positive_only
    assert not KSVD(3).__sklearn_tags__().input_tags.positive_only
    assert not SVDDictionary(3).__sklearn_tags__().input_tags.positive_only
    assert CompressedSensing(preprocess="log1p").__sklearn_tags__().input_tags.positive_only
    assert not CompressedSensing(preprocess="minmax").__sklearn_tags__().input_tags.positive_only


@pytest.mark.parametrize("learner", [SMAF(4, sparsity=2, max_iter=2), SparseNMF(4, max_iter=10),
                                     KSVD(4, sparsity=2, max_iter=2), SVDDictionary(4)])
def test_learners_refuse_complex_input_instead_of_dropping_the_imaginary_part(learner):
    X, _ = _counts()
    with pytest.raises(InputError, match="Complex data not supported"):
        clone(learner).fit(X + 1j)
    fitted = clone(learner).fit(X)
    with pytest.raises(InputError, match="Complex data not supported"):
        fitted.transform(X.astype(complex))


def test_sparse_input_gives_the_dense_result_and_huge_sparse_input_is_refused(monkeypatch):
    X, _ = _counts()
    dense = SMAF(4, sparsity=2, max_iter=2, random_state=0).fit(X)
    sparse = SMAF(4, sparsity=2, max_iter=2, random_state=0).fit(scipy.sparse.csr_matrix(X))
    np.testing.assert_allclose(sparse.components_, dense.components_)
    np.testing.assert_allclose(sparse.transform(scipy.sparse.csr_array(X)), dense.transform(X))
    import csgene._validation as validation

    monkeypatch.setattr(validation, "MAX_DENSE_BYTES", 1000)
    with pytest.raises(InputError, match="sparse matrix of shape .* dense copy"):
        SMAF(4).fit(scipy.sparse.csr_matrix(X))


def test_object_arrays_of_numbers_are_converted_and_others_refused():
    X, _ = _counts()
    a = SVDDictionary(3).fit(X.astype(object))
    np.testing.assert_allclose(a.components_, SVDDictionary(3).fit(X).components_)
    bad = X.astype(object)
    bad[0, 0] = {"a": 1}
    with pytest.raises(TypeError, match="non-numeric"):
        SVDDictionary(3).fit(bad)


@pytest.mark.filterwarnings("ignore:X does not have valid feature names")
def test_learners_name_features_from_dataframes_and_output_pandas():
    pd = pytest.importorskip("pandas")
    X, names = _counts()
    df = pd.DataFrame(X, columns=names)
    smaf = SMAF(4, sparsity=2, max_iter=2, random_state=0).set_output(transform="pandas").fit(df)
    np.testing.assert_array_equal(smaf.feature_names_in_, names)
    assert list(smaf.get_feature_names_out()) == ["smaf0", "smaf1", "smaf2", "smaf3"]
    codes = smaf.transform(df)
    assert isinstance(codes, pd.DataFrame) and list(codes.columns) == ["smaf0", "smaf1", "smaf2", "smaf3"]
    with pytest.raises(InputError, match="X has 39 features, but SMAF is expecting 40"):
        smaf.transform(X[:, 1:])


def test_random_state_accepts_int_none_randomstate_and_generator_everywhere():
    X, _ = _counts()
    learners = [SMAF(4, sparsity=2, max_iter=2), SparseNMF(4, max_iter=10), KSVD(4, sparsity=2, max_iter=2),
                SVDDictionary(4, svd_solver="randomized")]
    for learner in learners:
        for state in (0, None, np.random.RandomState(0), np.random.default_rng(0)):
            clone(learner).set_params(random_state=state).fit(np.log1p(X))
        a = clone(learner).set_params(random_state=np.random.default_rng(3)).fit(np.log1p(X))
        b = clone(learner).set_params(random_state=np.random.default_rng(3)).fit(np.log1p(X))
        if hasattr(a, "components_"):  # the same Generator seed gives the same model
            np.testing.assert_array_equal(a.components_, b.components_)
        with pytest.raises(InputError, match="random_state must be"):
            clone(learner).set_params(random_state="seven").fit(np.log1p(X))
    for state in (0, None, np.random.RandomState(0), np.random.default_rng(0)):
        CompressedSensing("svd", n_measurements=5, n_modules=4, random_state=state).fit(X)
    a = CompressedSensing("svd", n_measurements=5, n_modules=4, random_state=np.random.default_rng(1)).fit(X)
    b = CompressedSensing("svd", n_measurements=5, n_modules=4, random_state=np.random.default_rng(1)).fit(X)
    np.testing.assert_array_equal(a.design_, b.design_)


def test_compressed_sensing_takes_gene_names_from_dataframe_columns():
    pd = pytest.importorskip("pandas")
    X, names = _counts()
    df = pd.DataFrame(X[:50], columns=names)
    cs = CompressedSensing("svd", n_measurements=10, n_modules=5, random_state=0).fit(df)
    np.testing.assert_array_equal(cs.gene_names_, names)
    np.testing.assert_array_equal(cs.feature_names_in_, names)
    assert cs.n_features_in_ == 40
    # columns in another order are matched by name, not by position
    shuffled = df.iloc[:, ::-1]
    np.testing.assert_allclose(cs.transform(shuffled), cs.transform(df))
    assert cs.get_feature_names_out().tolist() == [f"m{i + 1}" for i in range(10)]
    assert cs.get_feature_names_out(names).tolist() == [f"m{i + 1}" for i in range(10)]
    with pytest.raises(InputError, match="input_features"):
        cs.get_feature_names_out(names[::-1])
    with pytest.raises(InputError, match="differs from the column names"):
        CompressedSensing("svd", n_measurements=10, n_modules=5).fit(df, gene_names=names[::-1])


def test_compressed_sensing_takes_gene_names_from_anndata_var_names():
    anndata = pytest.importorskip("anndata")
    X, names = _counts()
    adata = anndata.AnnData(X[:50], var=pd_frame(names))
    cs = CompressedSensing("svd", n_measurements=10, n_modules=5, random_state=0).fit(adata)
    np.testing.assert_array_equal(cs.gene_names_, names)
    np.testing.assert_array_equal(cs.feature_names_in_, names)
    np.testing.assert_allclose(cs.measure(adata[:, ::-1].copy(), snr=np.inf), cs.transform(X[:50]))


def pd_frame(names):
    import pandas as pd

    return pd.DataFrame(index=pd.Index(names, name="gene"))


def test_old_positional_gene_names_warn_and_still_name_the_genes():
    X, names = _counts()
    with pytest.warns(FutureWarning, match="gene_names=names"):
        cs = CompressedSensing("svd", n_measurements=10, n_modules=5, random_state=0).fit(X, names)
    np.testing.assert_array_equal(cs.gene_names_, names)
    # a numeric y (Pipeline targets) is ignored, as scikit-learn's unsupervised estimators do
    cs = CompressedSensing("svd", n_measurements=10, n_modules=5, random_state=0).fit(X, np.arange(60))
    assert cs.gene_names_[0] == "gene0"


def test_compressed_sensing_in_a_pipeline_with_pandas_output():
    pd = pytest.importorskip("pandas")
    X, names = _counts()
    df = pd.DataFrame(X, columns=names, index=[f"s{i}" for i in range(60)])
    pipe = make_pipeline(FunctionTransformer(feature_names_out="one-to-one"),
                         CompressedSensing("svd", n_measurements=10, n_modules=5, random_state=0))
    pipe.set_output(transform="pandas").fit(df.iloc[:50])
    Y = pipe.transform(df.iloc[50:])
    assert isinstance(Y, pd.DataFrame) and list(Y.columns)[:2] == ["m1", "m2"]
    assert list(Y.index) == [f"s{i}" for i in range(50, 60)]
    cs = pipe[-1]
    profiles = cs.inverse_transform(Y)
    assert isinstance(profiles, pd.DataFrame) and list(profiles.columns) == list(names)
    np.testing.assert_allclose(profiles.to_numpy(), cs.set_output(transform="default").recover(Y.to_numpy()))
    # measurement columns in another order are put back in design order by name
    np.testing.assert_allclose(cs.recover(Y.iloc[:, ::-1]), cs.recover(Y.to_numpy()))


def test_fit_records_provenance():
    X, _ = _counts()
    cs = CompressedSensing("svd", n_measurements=10, n_modules=5, random_state=0)
    cs.fit(X, provenance={"data_file": "x.h5", "data_sha256": "ab" * 32})
    assert cs.provenance_["data_file"] == "x.h5" and cs.provenance_["n_train"] == 60
    assert cs.provenance_["fitted_at"].endswith("+00:00")
    with pytest.raises(InputError, match="provenance must"):
        cs.fit(X, provenance={"when": object()})
