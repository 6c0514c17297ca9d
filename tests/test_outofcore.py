"""Out-of-core fits equal in-memory fits; a killed fit resumes to the identical model."""

from __future__ import annotations

import numpy as np
import pytest

from csgene import io
from csgene.datasets import make_expression
from csgene.exceptions import InputError
from csgene.outofcore import BlockStream, Checkpoint, fit_file
from csgene.outofcore.lowrank import Sketch, sketch_passes
from csgene.pipeline import CompressedSensing

from test_scale import write_gen1, write_gen2

N_SAMPLES, N_GENES = 90, 30
#: relative tolerance of out-of-core vs in-memory: they differ only in the order sums are taken
RTOL = 1e-9
#: small and fast: 20 modules (so every sketch covers all 30 genes: exact), SMAF's 10 iterations
COMMON = dict(n_measurements=12, n_modules=20, sparsity=5, random_state=3)
SMAF_OPTIONS = {}
#: sparse NMF's out-of-core solver, asked for explicitly in memory
SNMF_OPTIONS = {"solver": "bcd"}


class Kill(Exception):
    pass


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ooc")
    d = make_expression(n_samples=N_SAMPLES, n_genes=N_GENES, n_modules=6, random_state=0)
    names = np.array([f"s{i}" for i in range(N_SAMPLES)])
    gen2 = write_gen2(folder / "gen2.h5", d.counts, d.gene_names, names, chunk_samples=8)
    gen1 = write_gen1(folder / "gen1.h5", d.counts, d.gene_names, names)
    X = io.read(gen2, dtype=np.float64).X
    return folder, gen2, gen1, X, d.gene_names


def in_memory(X, genes, method, **options):
    return CompressedSensing(method, **COMMON, method_options=options or None).fit(X, gene_names=genes)


def assert_same_model(ref, got, rtol=RTOL):
    a, b = ref.method_.get_state(), got.method_.get_state()
    assert sorted(a) == sorted(b)
    for key in a:
        x, y = np.asarray(a[key]), np.asarray(b[key])
        if x.dtype.kind not in "fc":
            assert np.array_equal(x, y), key
        elif "factors" in key:  # eigenvectors have no sign: compare the covariance they make
            np.testing.assert_allclose(x.T @ x, y.T @ y, rtol=0, atol=rtol * np.abs(x.T @ x).max(), err_msg=key)
        else:
            np.testing.assert_allclose(x, y, rtol=0, atol=rtol * max(np.abs(x).max(), 1e-300), err_msg=key)
    np.testing.assert_array_equal(ref.design_, got.design_)
    for x, y in zip(ref.recovery_bounds_, got.recovery_bounds_):
        np.testing.assert_allclose(x, y, rtol=RTOL)
    assert got.measurement_norm_max_ == pytest.approx(ref.measurement_norm_max_, rel=RTOL)
    assert got.nonnegative_ == ref.nonnegative_


@pytest.mark.parametrize("method", ["smaf", "smaf-centered"])
def test_smaf_out_of_core_equals_in_memory(data, method):
    _, gen2, _, X, genes = data
    ref = in_memory(X, genes, method, **SMAF_OPTIONS)
    got = fit_file(gen2, method=method, block_size=7, method_options=SMAF_OPTIONS, progress=False, **COMMON)
    assert_same_model(ref, got)
    learned, expected = got.method_.learner, ref.method_.learner
    assert learned.sparsity_ == expected.sparsity_ and learned.lda2_ == expected.lda2_
    assert [h["k"] for h in learned.history_] == [h["k"] for h in expected.history_]
    np.testing.assert_allclose([h["fit"] for h in learned.history_], [h["fit"] for h in expected.history_],
                               rtol=RTOL)
    np.testing.assert_allclose(learned.activity_sizes_, expected.activity_sizes_, rtol=RTOL)
    Y = ref.measure(X[:15], snr=5, random_state=1)
    np.testing.assert_allclose(got.recover(Y), ref.recover(Y), rtol=1e-7, atol=1e-9)


def test_snmf_out_of_core_equals_in_memory_bcd(data):
    _, gen2, _, X, genes = data
    ref = in_memory(X, genes, "snmf", **SNMF_OPTIONS)
    got = fit_file(gen2, method="snmf", block_size=7, progress=False, **COMMON)  # bcd without asking
    assert got.method_options == SNMF_OPTIONS
    assert_same_model(ref, got)
    learned, expected = got.method_.learner, ref.method_.learner
    assert learned.solver == "bcd" and learned.n_iter_ == expected.n_iter_
    np.testing.assert_allclose(learned.objective_, expected.objective_, rtol=RTOL)
    np.testing.assert_allclose(learned.reconstruction_err_, expected.reconstruction_err_, rtol=1e-7)
    Y = ref.measure(X[:15], snr=5, random_state=1)
    np.testing.assert_allclose(got.recover(Y), ref.recover(Y), rtol=1e-7, atol=1e-9)


def test_snmf_out_of_core_refuses_mu_and_float32_matches(data):
    _, gen2, _, X, genes = data
    with pytest.raises(InputError, match="solver='bcd'.*method option"):
        fit_file(gen2, method="snmf", method_options={"solver": "mu"}, progress=False, **COMMON)
    ref = in_memory(X.astype(np.float32), genes, "snmf", **SNMF_OPTIONS)
    got = fit_file(gen2, method="snmf", block_size=9, dtype="float32", progress=False, **COMMON)
    assert got.method_.components_.dtype == np.float32
    # Ten SMAF iterations in float32 by two summation orders: the U-steps agree to ~5e-6, but
    # OMP is discontinuous. With the U-step's face steps (2026-12-01) one sample's greedy choice
    # in W-step 9 is a near-tie (the two supports explain its energy to within 1e-4 relative) and
    # flips between the two runs (and between float32 and float64 in memory alike), which moves
    # every module by up to 0.0104. Before, these runs happened to agree to 5e-6.
    np.testing.assert_allclose(got.method_.components_, ref.method_.components_, atol=2e-2)
    np.testing.assert_allclose(got.method_.learner.objective_, ref.method_.learner.objective_, rtol=1e-5)


def test_killed_snmf_fit_resumes_to_the_identical_model(data, tmp_path):
    _, gen2, _, _, _ = data
    kwargs = dict(method="snmf", block_size=13, progress=False, **COMMON)
    clean = fit_file(gen2, **kwargs)
    checkpoint = tmp_path / "fit.ckpt.npz"

    def kill_after(step):
        if step == "snmf/pass2":
            with np.load(checkpoint) as saved:  # one W and one H kept, the superseded ones dropped
                assert sorted(k for k in saved.files if k.endswith(("/W", "/H"))) == ["snmf/pass2/H", "snmf/pass2/W"]
            raise Kill(step)

    with pytest.raises(Kill):
        fit_file(gen2, checkpoint=checkpoint, on_step=kill_after, **kwargs)
    ran = []
    resumed = fit_file(gen2, checkpoint=checkpoint, on_step=ran.append, **kwargs)
    assert ran[0] == "snmf/pass3"
    a, b = clean.method_.get_state(), resumed.method_.get_state()
    for key in a:
        assert np.array_equal(np.asarray(a[key]), np.asarray(b[key])), key
    np.testing.assert_array_equal(clean.method_.learner.objective_, resumed.method_.learner.objective_)


@pytest.mark.parametrize("method,options", [("svd", {}), ("gaussian", {"estimator": "pca"})])
@pytest.mark.parametrize("layout", ["gen1", "gen2"])
def test_lowrank_out_of_core_equals_in_memory_when_the_sketch_covers_every_gene(data, method, options, layout):
    _, gen2, gen1, X, genes = data
    ref = in_memory(X, genes, method, **options)
    got = fit_file(gen2 if layout == "gen2" else gen1, method=method, block_size=11, progress=False, **COMMON)
    assert_same_model(ref, got)
    assert got.method_.get_params().get("estimator", "pca") == "pca"


def test_subspace_iteration_converges_to_the_leading_singular_vectors(tmp_path):
    """Fewer sketch columns than genes: the leading vectors are found to high accuracy in a few passes."""
    rng = np.random.default_rng(0)
    n, g, rank = 120, 200, 4
    X = (rng.random((n, rank)) * [60.0, 40.0, 25.0, 15.0]) @ rng.random((rank, g)) * 10 + rng.random((n, g)) * 5
    path = write_gen2(tmp_path / "x.h5", X.round(), [f"g{j}" for j in range(g)], [f"s{i}" for i in range(n)])
    Xr = io.read(path, dtype=np.float64).X
    _, s, Vt = np.linalg.svd(Xr, full_matrices=False)
    assert Sketch("x", rank).width(g) < g
    errors = []
    for passes in (1, 5):
        stream = BlockStream(path, block_size=16, progress=False)
        found = sketch_passes(stream, Checkpoint(None, "-"), "t", [Sketch("x", rank)], n_passes=passes)["x"]
        errors.append(np.abs(np.abs(found["vectors"] @ Vt[:rank].T) - np.eye(rank)).max())
    np.testing.assert_allclose(np.sqrt(found["eig"]), s[:rank], rtol=1e-8)
    assert errors[1] < 1e-6 and errors[1] < errors[0] / 100


def test_killed_fit_resumes_to_the_identical_model(data, tmp_path):
    _, gen2, _, _, _ = data
    kwargs = dict(method="smaf", block_size=13, method_options=SMAF_OPTIONS, progress=False, **COMMON)
    clean = fit_file(gen2, **kwargs)
    checkpoint = tmp_path / "fit.ckpt.npz"

    def kill_after(name):
        def hook(step):
            if step == name:
                raise Kill(step)
        return hook

    with pytest.raises(Kill):
        fit_file(gen2, checkpoint=checkpoint, on_step=kill_after("smaf/pass2"), **kwargs)
    assert checkpoint.exists()
    with pytest.raises(Kill):  # resumed, killed again later (in the prior's passes)
        fit_file(gen2, checkpoint=checkpoint, on_step=kill_after("background/pass1"), **kwargs)
    ran = []
    resumed = fit_file(gen2, checkpoint=checkpoint, on_step=ran.append, **kwargs)
    assert ran and not any(step.startswith(("smaf/", "preprocess/", "moments")) for step in ran)
    assert ran[0] == "background/pass2"
    assert not checkpoint.exists()  # removed once the model is whole
    a, b = clean.method_.get_state(), resumed.method_.get_state()
    for key in a:
        assert np.array_equal(np.asarray(a[key]), np.asarray(b[key])), key


def test_checkpoint_of_other_settings_is_refused(data, tmp_path):
    _, gen2, _, _, _ = data
    checkpoint = tmp_path / "fit.ckpt.npz"
    with pytest.raises(Kill):
        fit_file(gen2, method="svd", block_size=13, checkpoint=checkpoint, progress=False,
                 on_step=lambda step: (_ for _ in ()).throw(Kill()), **COMMON)
    with pytest.raises(InputError, match="another file, method or settings"):
        fit_file(gen2, method="svd", block_size=14, checkpoint=checkpoint, progress=False, **COMMON)
    fit_file(gen2, method="svd", block_size=14, checkpoint=checkpoint, resume=False, progress=False, **COMMON)


def test_float32_out_of_core_matches_float32_in_memory(data):
    _, gen2, _, X, genes = data
    ref = in_memory(X.astype(np.float32), genes, "smaf", **SMAF_OPTIONS)
    got = fit_file(gen2, method="smaf", block_size=7, dtype="float32", method_options=SMAF_OPTIONS,
                   progress=False, **COMMON)
    assert got.method_.components_.dtype == np.float32
    # Ten SMAF iterations in float32 by two summation orders: the U-steps agree to ~5e-6, but
    # OMP is discontinuous. With the U-step's face steps (2026-12-01) one sample's greedy choice
    # in W-step 9 is a near-tie (the two supports explain its energy to within 1e-4 relative) and
    # flips between the two runs (and between float32 and float64 in memory alike), which moves
    # every module by up to 0.0104. Before, these runs happened to agree to 5e-6.
    np.testing.assert_allclose(got.method_.components_, ref.method_.components_, atol=2e-2)


def test_saved_model_recovers(data, tmp_path):
    _, gen2, _, X, _ = data
    model = fit_file(gen2, method="svd", progress=False, **COMMON)
    loaded = CompressedSensing.load(model.save(tmp_path / "m.h5"))
    Y = model.measure(X[:5], random_state=0)
    np.testing.assert_allclose(loaded.recover(Y), model.recover(Y), rtol=1e-10)


def test_refusals(data, tmp_path):
    _, gen2, _, X, _ = data
    with pytest.raises(InputError, match="no out-of-core fit"):
        fit_file(gen2, method="ksvd", **COMMON)
    with pytest.raises(InputError, match="cannot be fitted out of core"):
        fit_file(gen2, method="svd", preprocess="clip99+log1p", progress=False, **COMMON)
    with pytest.raises(InputError, match="dtype"):
        fit_file(gen2, method="svd", dtype="int8", **COMMON)
    npz = tmp_path / "x.npz"
    io.write(npz, io.ExpressionData.from_array(X))
    with pytest.raises(Exception, match="HDF5|hdf5"):
        fit_file(npz, method="svd", **COMMON)


def test_cli_fit_out_of_core_then_recover(data, tmp_path, capsys):
    from csgene.cli import main

    _, gen2, _, X, _ = data
    model_path = tmp_path / "m.h5"
    flags = ["--measurements", "12", "--modules", "20", "--sparsity", "5", "--seed", "3"]
    argv = ["fit", str(gen2), "--method", "svd", "--block-size", "11", *flags, "--out", str(model_path), "-q"]
    assert main(argv) == 0
    assert "out of core" in capsys.readouterr().out
    assert not (tmp_path / "m.h5.checkpoint.npz").exists()
    model = CompressedSensing.load(model_path)
    expected = fit_file(gen2, method="svd", block_size=11, progress=False, **dict(COMMON, random_state=3))
    np.testing.assert_allclose(model.method_.components_, expected.method_.components_, rtol=1e-12)
    Y = tmp_path / "Y.csv"
    io.write(Y, io.ExpressionData.from_array(model.measure(X[:4], random_state=0)))
    assert main(["recover", str(model_path), str(Y), "--out", str(tmp_path / "X.csv"), "-q"]) == 0
    assert io.read(tmp_path / "X.csv").X.shape == (4, N_GENES)
    status = main(["fit", str(gen2), "--out-of-core", "--samples", "10", "--out", str(tmp_path / "n.h5")])
    assert status == 2 and "drop --samples" in capsys.readouterr().err


# --------------------------------------------------------------------------- block tasks against dense algebra


def _random_codes(rng, n, m, k):
    indices = np.stack([rng.choice(m, size=k, replace=False) for _ in range(n)])
    values = rng.standard_normal((n, k))
    values[0] = 0.0  # a sample with empty codes
    return indices, values


@pytest.mark.parametrize("dtype,rtol", [(np.float64, 1e-10), (np.float32, 2e-4)])
def test_sketch_pass_products_equal_explicit_residual_centred_rows(dtype, rtol):
    """Passes after the first form Rᵀ(R Q) from products with the block; compare with R built densely."""
    from csgene.outofcore.lowrank import SketchTask

    rng = np.random.default_rng(7)
    n, g, m, start = 40, 25, 6, 100
    X = (rng.random((n, g)) * 3).astype(dtype)
    U = rng.standard_normal((m, g))
    indices, values = _random_codes(rng, start + n, m, 3)
    rows = rng.random(start + n) < 0.7
    mean = rng.standard_normal(g)
    sketches = [Sketch("plain", 4), Sketch("centred", 5, mean=mean, seed=1),
                Sketch("residual-kept", 3, residual=True, rows=rows, mean=mean, seed=2),
                Sketch("residual", 6, residual=True, seed=3)]
    bases = {s.name: s.start(g) for s in sketches}
    task = SketchTask(sketches, bases, U, indices, values)
    got = task(X, start, start + n, task.block_inputs(0, start, start + n))
    codes = np.zeros((start + n, m))
    np.put_along_axis(codes, indices, values, axis=1)
    X64 = X.astype(np.float64)
    for s in sketches:
        R = X64 - (codes[start:] @ U if s.residual else 0.0) - (s.mean if s.mean is not None else 0.0)
        if s.rows is not None:
            R = R[s.rows[start:]]
        expected = R.T @ (R @ bases[s.name])
        np.testing.assert_allclose(got[f"{s.name}/Z"], expected, rtol=0, atol=rtol * np.abs(expected).max(),
                                   err_msg=s.name)


def test_smaf_w_step_residuals_and_sums_equal_dense_algebra():
    from csgene.outofcore.smaf import WStepTask

    rng = np.random.default_rng(3)
    n, g, m = 30, 20, 8
    X = rng.random((n, g))
    U = np.abs(rng.standard_normal((m, g)))
    mean = rng.random(g)
    task = WStepTask(U, 4, 2, mean, "cpu")
    got = task(X, 0, n, None)
    Xc = X - mean
    for k in task.ks:
        W = np.zeros((n, m))
        np.put_along_axis(W, np.where(got[f"{k}/indices"] < 0, 0, got[f"{k}/indices"]), got[f"{k}/values"], axis=1)
        residual = Xc - W @ U
        assert float(got[f"{k}/residual"]) == pytest.approx(np.sum(residual**2), rel=1e-10)
        np.testing.assert_allclose(got[f"{k}/cov"], Xc.T @ W, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(got[f"{k}/gram"], W.T @ W, rtol=1e-12, atol=1e-12)
