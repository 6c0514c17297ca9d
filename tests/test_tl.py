"""AnnData tools (csgene.tl): fit, measure and recover write where scanpy users look."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from csgene import CompressedSensing
from csgene.datasets import make_expression
from csgene.exceptions import InputError, MissingDependencyError

anndata = pytest.importorskip("anndata")
pd = pytest.importorskip("pandas")
import csgene.tl as cstl  # noqa: E402

PARAMS = dict(n_measurements=20, n_modules=8, sparsity=4, random_state=0)


@pytest.fixture
def adata():
    data = make_expression(n_samples=60, n_genes=50, n_modules=6, random_state=0)
    counts = np.asarray(data.counts, dtype=np.float64)
    normalised = np.log1p(counts / counts.sum(axis=1, keepdims=True).clip(1) * 1e4)
    obs = pd.DataFrame({"batch": pd.Categorical(["a", "b"] * 30)}, index=[f"cell{i}" for i in range(60)])
    adata = anndata.AnnData(X=normalised, obs=obs, var=pd.DataFrame(index=np.asarray(data.gene_names).astype(str)))
    adata.layers["counts"] = counts
    return adata


def test_fit_measure_recover_write_where_documented(adata, tmp_path):
    counts = adata.layers["counts"]
    model = cstl.fit(adata, "svd", layer="counts", **PARAMS)
    assert isinstance(model, CompressedSensing)
    assert adata.varm["csgene_modules"].shape == (50, 8)
    np.testing.assert_array_equal(adata.varm["csgene_modules"], model.method_.components_.T)
    np.testing.assert_array_equal(adata.varm["csgene_design"], model.design_.T)
    entry = adata.uns["csgene"]
    assert entry["method"] == "svd" and entry["layer"] == "counts" and entry["n_train"] == 60
    assert entry["params"]["n_measurements"] == 20 and entry["version"]
    from csgene.measure import design_fingerprint

    assert entry["design_sha256"] == design_fingerprint(model.design_)

    assert cstl.measure(adata, model, layer="counts", random_state=1) is None
    Y = adata.obsm["X_csgene_measurements"]
    np.testing.assert_allclose(Y, model.measure(counts, random_state=1))
    cstl.recover(adata, model)
    np.testing.assert_allclose(adata.layers["csgene_recovered"], model.recover(Y))
    assert np.corrcoef(np.log1p(adata.layers["csgene_recovered"]).ravel(), np.log1p(counts).ravel())[0, 1] > 0.8

    path = tmp_path / "round.h5ad"
    adata.write_h5ad(path)
    back = anndata.read_h5ad(path)
    np.testing.assert_allclose(back.layers["csgene_recovered"], adata.layers["csgene_recovered"])
    np.testing.assert_allclose(back.obsm["X_csgene_measurements"], Y)
    assert back.uns["csgene"]["design_sha256"] == entry["design_sha256"]
    pd.testing.assert_frame_equal(back.obs, adata.obs)


def test_genes_in_another_order_and_outside_the_model(adata):
    subset = adata[:, adata.var_names[:30]].copy()
    model = cstl.fit(subset, "svd", layer="counts", **PARAMS)
    shuffled = adata[:, adata.var_names[::-1]].copy()  # all 50 genes, reversed
    cstl.measure(shuffled, model, layer="counts", random_state=2)
    np.testing.assert_allclose(shuffled.obsm["X_csgene_measurements"],
                               model.measure(adata.layers["counts"][:, :30], random_state=2))
    cstl.recover(shuffled, model, key_added="rec")
    rec = shuffled.layers["rec"]
    expected = model.recover(shuffled.obsm["X_csgene_measurements"])
    np.testing.assert_allclose(rec[:, ::-1][:, :30], expected)  # back in the model's order
    assert np.isnan(rec[:, :20]).all()  # the 20 genes the model does not know


def test_copy_leaves_the_input_untouched(adata):
    model, fitted = cstl.fit(adata, "svd", layer="counts", copy=True, **PARAMS)
    assert "csgene" not in adata.uns and "csgene_modules" not in adata.varm
    assert "csgene_modules" in fitted.varm
    measured = cstl.measure(fitted, model, layer="counts", key_added="Y", copy=True)
    assert "Y" in measured.obsm and "Y" not in fitted.obsm
    recovered = cstl.recover(measured, model, obsm_key="Y", copy=True)
    assert "csgene_recovered" in recovered.layers and "csgene_recovered" not in measured.layers


def test_fitting_logged_x_with_log1p_warns(adata):
    with pytest.warns(UserWarning, match="already log-transformed.*layer='counts'"):
        cstl.fit(adata, "svd", **PARAMS)


def test_measurements_of_another_design_are_refused(adata):
    model = cstl.fit(adata, "svd", layer="counts", **PARAMS)
    other = cstl.fit(adata.copy(), "svd", layer="counts", **{**PARAMS, "random_state": 5})
    cstl.measure(adata, other, layer="counts")
    with pytest.raises(InputError, match="another design"):
        cstl.recover(adata, model)


def test_clear_errors(adata):
    model = cstl.fit(adata, "svd", layer="counts", **PARAMS)
    with pytest.raises(InputError, match="takes an AnnData object, got ndarray"):
        cstl.fit(adata.X, "svd")
    with pytest.raises(InputError, match="no layer 'raw'; its layers are 'counts'"):
        cstl.fit(adata, "svd", layer="raw")
    with pytest.raises(InputError, match="no 'X_csgene_measurements'.*Measure first"):
        cstl.recover(adata, model)
    with pytest.raises(InputError, match="not in the data|not among|missing"):
        cstl.measure(adata[:, :10].copy(), model, layer="counts")


def test_without_anndata_the_module_imports_and_names_the_extra():
    code = (
        "import sys; sys.modules['anndata'] = None\n"
        "import csgene.tl as t\n"
        "from csgene.exceptions import MissingDependencyError\n"
        "try:\n    t.fit(object())\nexcept MissingDependencyError as e:\n    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "pip install 'csgene[anndata]'" in out
    assert MissingDependencyError  # the type the message comes with


def test_refitting_keeps_the_record_that_refuses_old_measurements(adata):
    first = cstl.fit(adata, "svd", layer="counts", **PARAMS)
    cstl.measure(adata, first, layer="counts")
    second = cstl.fit(adata, "svd", layer="counts", **{**PARAMS, "random_state": 7})
    assert adata.uns["csgene"]["design_sha256"] != adata.uns["csgene"]["measurements"]["X_csgene_measurements"][
        "design_sha256"]
    with pytest.raises(InputError, match="another design"):
        cstl.recover(adata, second)
