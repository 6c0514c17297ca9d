"""Out-of-core block processing of whole expression matrices on disk.

The full ARCHS4 human matrix (35,238 genes x 167,726 samples, 23.6 GB as float32) does not fit
next to anything else on a 24 GiB machine, so everything here streams it in blocks of samples:

* :func:`fit_on_subset` -- fit a :class:`~csgene.pipeline.CompressedSensing` model on a seeded
  random subset of samples (read efficiently by :func:`csgene.io.read`).
* :func:`simulate_file` -- composite measurements ``Y = A (f(X) + noise)`` of every sample of an
  ARCHS4 file (generation 1 or 2), written to an HDF5 measurements file.
* :func:`recover_file` -- recovered profiles from a measurements file, written block by block.
* :func:`simulate_and_recover` -- both in one pass (full matrix -> simulate -> recover), for
  benchmarking.

Blocks are read in the order the file's chunks favour: generation-2 files store genes x samples,
so a block is a range of sample columns whose width is a multiple of the HDF5 chunk width.
Peak memory is bounded by ``block_size`` and the model, not by the number of samples; the
default block size makes one float32 block about 256 MB.

Noise (Cleary et al.'s definition, ``||N||_F = ||f(X)||_F / snr``) is taken over fixed groups of
``noise_block`` consecutive samples, each seeded by its own child of
``numpy.random.SeedSequence(random_state)`` (``spawn_key=(group,)``). Results therefore do not
depend on the block size, on the order blocks run in, or on a resume; for one group they equal
``model.measure(X_group, snr=snr, random_state=default_rng(child))``.

Output files are HDF5 in the ARCHS4 generation-1 orientation, readable by
:func:`csgene.io.read`: ``data/expression`` (n_samples, n_columns), ``meta/genes`` (gene names,
or measurement names ``y0, y1, ...`` for a measurements file) and ``meta/Sample_geo_accession``.
They are first written to ``OUT.partial`` with a per-block done mask (``csgene/done``) and a
fingerprint of the model, input and settings; ``OUT.partial`` is renamed to ``OUT`` only when
every block is done. Running the same call again resumes an interrupted run (the result is
identical to an uninterrupted one); a partial file made with another model, input or settings
is refused.

Examples
--------
>>> from csgene import scale
>>> model = scale.fit_on_subset("human_gene_v2.2.h5", 5000, method="smaf",
...                             n_measurements=100, random_state=0)           # doctest: +SKIP
>>> scale.simulate_file(model, "human_gene_v2.2.h5", "Y.h5", snr=2, random_state=1)  # doctest: +SKIP
>>> scale.recover_file(model, "Y.h5", "recovered.h5")                          # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sklearn.utils.validation import check_is_fitted

from . import io
from ._random import root_seed
from ._validation import check_positive_int, check_snr, gene_positions
from .exceptions import InputError
from .io import BlockReader, PartialWriter, block_ranges, default_block_size
from .io._common import provenance

#: samples per noise group (the SNR norm is taken over each group)
DEFAULT_NOISE_BLOCK = 256
#: re-exported from csgene.io for callers of the block functions
DEFAULT_BLOCK_BYTES = io.DEFAULT_BLOCK_BYTES


# --------------------------------------------------------------------------- the model


def fit_on_subset(path, n_samples: int, *, random_state=None, genes=None, singlecell_threshold=None,
                  **model_kwargs):
    """Fit a :class:`~csgene.pipeline.CompressedSensing` model on a random subset of samples.

    Parameters
    ----------
    path : str or path-like
        Any file :func:`csgene.io.read` reads (ARCHS4 HDF5 is read in sorted bounded blocks).
    n_samples : int
        Training samples drawn at random (seeded by ``random_state``).
    random_state : int or None
        Seeds the subset and the model.
    genes : array-like, optional
        Genes to keep (names or indices), passed to :func:`csgene.io.read`.
    singlecell_threshold : float, optional
        Drop likely single-cell samples before drawing (ARCHS4 generation 2).
    **model_kwargs
        Passed to :class:`~csgene.pipeline.CompressedSensing` (``method``, ``n_measurements``,
        ``n_modules``, ``sparsity``, ``preprocess``, ...).

    Returns
    -------
    CompressedSensing
        Fitted, with the file's gene names.
    """
    from .pipeline import CompressedSensing

    data = io.read(path, n_samples=n_samples, genes=genes, random_state=random_state,
                   singlecell_threshold=singlecell_threshold)
    model = CompressedSensing(random_state=random_state, **model_kwargs)
    return model.fit(data.X, gene_names=data.gene_names)


def model_fingerprint(model) -> str:
    """SHA-256 of everything a fitted model computes with (design, method and preprocessing state)."""
    check_is_fitted(model, "method_")
    digest = hashlib.sha256()
    _hash_state(digest, {"design": model.design_, "genes": model.gene_names_.astype("S")})
    _hash_state(digest, model.preprocessor_.get_state())
    _hash_state(digest, model.method_.get_state() if hasattr(model.method_, "get_state") else {})
    digest.update(type(model.method_).__name__.encode())
    return digest.hexdigest()


def _hash_state(digest, state: dict) -> None:
    for key in sorted(state):
        value = np.asarray(state[key])
        digest.update(f"{key}|{value.dtype.str}|{value.shape}|".encode())
        digest.update(np.ascontiguousarray(value).tobytes() if value.dtype != object else repr(value).encode())


# --------------------------------------------------------------------------- block jobs


@dataclass(frozen=True)
class BlockJob:
    """What to compute for a range of samples; picklable, so Dask tasks can run it.

    ``kind`` is ``"simulate"`` (rows of Y), ``"recover"`` (rows of X-hat from rows of Y) or
    ``"simulate_recover"``. The input file is opened by whoever runs the job.
    """

    kind: str
    input_path: str
    gene_index: np.ndarray | None = None
    snr: float = math.inf
    seed: int | None = 0
    noise_block: int = DEFAULT_NOISE_BLOCK
    space: str = "original"
    dtype: str = "float32"
    extra: dict = field(default_factory=dict)

    def run(self, model, start: int, stop: int, reader: BlockReader | None = None) -> np.ndarray:
        """Compute the output rows of samples ``[start, stop)``."""
        own = reader is None
        reader = BlockReader(self.input_path) if own else reader
        try:
            block = reader.read(start, stop, np.float32 if self.kind != "recover" else np.float64)
        finally:
            if own:
                reader.close()
        if self.kind == "recover":
            return model.recover(block, space=self.space, library_size=self.extra.get("library_size")
                                 ).astype(self.dtype, copy=False)
        if self.gene_index is not None:
            block = block[:, self.gene_index]
        Y = self.measure(model, block, start)
        if self.kind == "simulate":
            return Y
        # the true library sizes are known here: a log1p-cpm model recovers counts, not CPM
        sizes = block.sum(axis=1, dtype=np.float64) if _has_cpm_step(model) else None
        return model.recover(Y, space=self.space, library_size=sizes).astype(self.dtype, copy=False)

    def measure(self, model, X: np.ndarray, start: int) -> np.ndarray:
        """Y of samples ``[start, start + len(X))`` with noise per group (``start`` is group-aligned)."""
        out = np.empty((X.shape[0], model.design_.shape[0]), dtype=np.float64)
        for offset in range(0, X.shape[0], self.noise_block):
            group = (start + offset) // self.noise_block
            rng = np.random.default_rng(np.random.SeedSequence(self.seed, spawn_key=(group,)))
            part = slice(offset, offset + self.noise_block)
            out[part] = model.measure(X[part], snr=self.snr, random_state=rng)
        return out


def run_block_task(job: BlockJob, model, start: int, stop: int, threads: int | None = None) -> np.ndarray:
    """Run ``job`` on ``[start, stop)`` with Numba and BLAS threads capped at ``threads``."""
    from csgene_kernels.threads import limit_threads

    with limit_threads(numba_threads=threads, blas_threads=threads):
        return job.run(model, start, stop)


# --------------------------------------------------------------------------- plans and writing


@dataclass
class BlockPlan:
    """Blocks to run and the output file that receives them (what single-process and Dask share)."""

    job: BlockJob
    out: Path
    n_samples: int
    block_size: int
    column_names: np.ndarray
    sample_names: np.ndarray
    fingerprint: str
    compression: str | None
    attrs: dict

    @property
    def blocks(self) -> list[tuple[int, int]]:
        return block_ranges(self.n_samples, self.block_size)

    @property
    def output_dtype(self) -> np.dtype:
        """dtype of the output matrix: float64 measurements, else the job's dtype."""
        return np.dtype(np.float64 if self.job.kind == "simulate" else self.job.dtype)


def plan_simulate(model, input_path, out, *, snr=math.inf, random_state=0, block_size=None,
                  noise_block=DEFAULT_NOISE_BLOCK, recover=False, space="original", compression=None,
                  overwrite=False) -> BlockPlan:
    """Plan :func:`simulate_file` (``recover=False``) or :func:`simulate_and_recover` (``recover=True``)."""
    check_is_fitted(model, "method_")
    snr = check_snr(snr)
    seed = root_seed(random_state)
    noise_block = check_positive_int(noise_block, "noise_block")
    space = _check_space(space)
    with BlockReader(input_path) as reader:
        gene_index = _gene_index(model, reader.gene_names, reader.path)
        n_samples, sample_names = reader.n_samples, reader.sample_names
        size = _block_size(block_size, len(model.gene_names_), max(noise_block, reader.sample_chunk))
        input_id = _input_identity(reader)
    if size % noise_block:
        raise InputError(
            f"block_size={size} is not a multiple of noise_block={noise_block}; the SNR norm is taken "
            f"over groups of noise_block samples, so blocks must hold whole groups. Pass e.g. "
            f"block_size={max(noise_block, size - size % noise_block)}."
        )
    kind = "simulate_recover" if recover else "simulate"
    job = BlockJob(kind, str(input_path), gene_index, snr, seed, noise_block, space)
    columns = model.gene_names_ if recover else np.array([f"y{i}" for i in range(model.design_.shape[0])])
    settings = {"kind": kind, "snr": str(snr), "seed": seed, "noise_block": noise_block, "space": space,
                "block_size": size, "compression": str(compression)}
    attrs = {**model.measurement_marks(), "csgene_snr": str(snr), "csgene_seed": str(seed),
             "csgene_noise_block": noise_block}
    fingerprint = _fingerprint(model, input_id, settings)
    _check_out(out, overwrite)
    return BlockPlan(job, Path(out), n_samples, size, columns, sample_names, fingerprint, compression, attrs)


def plan_recover(model, measurements_path, out, *, block_size=None, space="original", dtype=np.float32,
                 compression=None, overwrite=False, library_size=None) -> BlockPlan:
    """Plan :func:`recover_file`."""
    check_is_fitted(model, "method_")
    space = _check_space(space)
    dtype = np.dtype(dtype)
    if dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise InputError(f"dtype must be float32 or float64, got {dtype}.")
    with BlockReader(measurements_path) as reader:
        _check_measurements(model, reader)
        n_samples, sample_names = reader.n_samples, reader.sample_names
        input_id = _input_identity(reader)
    size = _block_size(block_size, len(model.gene_names_), 1)
    if library_size is not None and not (library_size == "mean" or np.ndim(library_size) == 0):
        raise InputError("library_size of recover_file must be one number or 'mean' (one per sample "
                         "does not stream); recover blocks with CompressedSensing.recover for per-sample sizes.")
    extra = {} if library_size is None else {"library_size": library_size}
    job = BlockJob("recover", str(measurements_path), None, space=space, dtype=dtype.name, extra=extra)
    settings = {"kind": "recover", "space": space, "block_size": size, "dtype": dtype.name,
                "compression": str(compression), "library_size": str(library_size)}
    fingerprint = _fingerprint(model, input_id, settings)
    _check_out(out, overwrite)
    return BlockPlan(job, Path(out), n_samples, size, model.gene_names_, sample_names, fingerprint,
                     compression, {})


def execute(plan: BlockPlan, model, *, resume=True, progress=None, on_block=None) -> Path:
    """Run a plan in this process, block by block, and return the output path."""
    writer = PartialWriter(plan, plan.output_dtype, resume=resume)
    try:
        pending = writer.pending()
        with BlockReader(plan.job.input_path) as reader, progress_bar(plan, pending, progress) as bar:
            for index in pending:
                start, stop = plan.blocks[index]
                writer.write(index, plan.job.run(model, start, stop, reader=reader))
                bar.update(stop - start)
                if on_block is not None:
                    on_block(index)
    except BaseException:
        writer.close()
        raise
    return writer.finish()


# --------------------------------------------------------------------------- public entry points


def simulate_file(model, input_path, out, *, snr=math.inf, random_state=0, block_size=None,
                  noise_block=DEFAULT_NOISE_BLOCK, compression=None, resume=True, overwrite=False,
                  progress=None, on_block=None) -> Path:
    """Simulate composite measurements of every sample of an ARCHS4 file, block by block.

    Parameters
    ----------
    model : CompressedSensing
        Fitted model; its preprocessing ``f`` and design ``A`` are used. Genes are matched by name.
    input_path : str or path-like
        ARCHS4-layout HDF5 (generation 1 or 2, or a csgene output file).
    out : str or path-like
        Measurements file to write: ``data/expression`` (n_samples, n_measurements) float64,
        column names ``y0, y1, ...``, the input's sample names.
    snr : float
        Cleary's SNR, the norm taken over each group of ``noise_block`` samples; inf: no noise.
    random_state : int or None
        Root seed; group ``g`` uses ``SeedSequence(random_state, spawn_key=(g,))``.
    block_size : int, optional
        Samples per block (a multiple of ``noise_block``); default about 256 MB of float32.
    noise_block : int
        Samples per noise group.
    compression : {None, "gzip", "lzf"}
        Output compression.
    resume : bool
        Continue ``OUT.partial`` if it was made by the same call (else it is overwritten).
    overwrite : bool
        Replace an existing complete ``OUT``.
    progress : bool or None
        tqdm progress bar (None: only on a terminal).
    on_block : callable, optional
        Called with each finished block index (for monitoring).

    Returns
    -------
    Path
        ``out``.
    """
    plan = plan_simulate(model, input_path, out, snr=snr, random_state=random_state, block_size=block_size,
                         noise_block=noise_block, compression=compression, overwrite=overwrite)
    return execute(plan, model, resume=resume, progress=progress, on_block=on_block)


def recover_file(model, measurements_path, out, *, block_size=None, space="original", dtype=np.float32,
                 compression=None, resume=True, overwrite=False, progress=None, on_block=None,
                 library_size=None) -> Path:
    """Recover every sample of a measurements file into an HDF5 file, block by block.

    Parameters
    ----------
    model : CompressedSensing
        Fitted model whose design made the measurements (checked when the file records it).
    measurements_path : str or path-like
        HDF5 written by :func:`simulate_file`, or any ARCHS4-layout file of (n_samples,
        n_measurements) values (write one with ``csgene.io.write("Y.h5", ExpressionData(...))``).
    out : str or path-like
        Output: ``data/expression`` (n_samples, n_genes) of ``dtype``, chunked, with
        ``meta/genes`` and ``meta/Sample_geo_accession``; readable by :func:`csgene.io.read`.
    space : {"original", "preprocessed"}
        As in :meth:`CompressedSensing.recover`. With ``preprocess="log1p-cpm"``,
        ``"original"`` gives counts per million: library sizes are not in the measurements.
    library_size : None, "mean" or float
        As in :meth:`CompressedSensing.recover`, one value for every sample.
    block_size, compression, resume, overwrite, progress, on_block
        As in :func:`simulate_file`.
    """
    plan = plan_recover(model, measurements_path, out, block_size=block_size, space=space, dtype=dtype,
                        compression=compression, overwrite=overwrite, library_size=library_size)
    return execute(plan, model, resume=resume, progress=progress, on_block=on_block)


def simulate_and_recover(model, input_path, out, *, snr=math.inf, random_state=0, block_size=None,
                         noise_block=DEFAULT_NOISE_BLOCK, space="original", compression=None, resume=True,
                         overwrite=False, progress=None, on_block=None) -> Path:
    """Full matrix -> simulated measurements -> recovered profiles, in one streaming pass.

    Equal to :func:`simulate_file` followed by :func:`recover_file` with the same arguments;
    the measurements are not kept. Arguments as in those two functions.
    """
    plan = plan_simulate(model, input_path, out, snr=snr, random_state=random_state, block_size=block_size,
                         noise_block=noise_block, recover=True, space=space, compression=compression,
                         overwrite=overwrite)
    return execute(plan, model, resume=resume, progress=progress, on_block=on_block)


# --------------------------------------------------------------------------- helpers


def _has_cpm_step(model) -> bool:
    from .preprocess import Log1pCPM

    return any(isinstance(step, Log1pCPM) for _, step in model.preprocessor_.steps)


def _check_space(space) -> str:
    if space not in ("original", "preprocessed"):
        raise InputError(f"space must be 'original' or 'preprocessed', got {space!r}.")
    return space


def _block_size(block_size, n_columns: int, sample_chunk: int) -> int:
    if block_size is None:
        return default_block_size(n_columns, sample_chunk)
    return check_positive_int(block_size, "block_size")


def _gene_index(model, file_genes: np.ndarray, path: str) -> np.ndarray | None:
    """Columns of the file that give the model's genes in order (None: already the same)."""
    if np.array_equal(file_genes, model.gene_names_):
        return None
    return gene_positions(file_genes, model.gene_names_, repr(path))


def _check_measurements(model, reader: BlockReader) -> None:
    d = model.design_.shape[0]
    if reader.n_genes != d:
        raise InputError(
            f"{reader.path!r} has {reader.n_genes} values per sample but the model's design has {d} "
            f"measurements; pass the measurements file made with this model (simulate_file)."
        )
    model.check_measurement_marks(provenance(reader.file.attrs), reader.path)


def _input_identity(reader: BlockReader) -> dict:
    stat = os.stat(reader.path)
    return {"shape": list(reader.dataset.shape), "dtype": str(reader.dataset.dtype), "size": stat.st_size,
            "mtime_ns": stat.st_mtime_ns, "name": os.path.basename(reader.path)}


def _fingerprint(model, input_id: dict, settings: dict) -> str:
    text = json.dumps({"model": model_fingerprint(model), "input": input_id, "settings": settings},
                      sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _check_out(out, overwrite: bool) -> None:
    out = Path(out)
    if not out.parent.is_dir():
        raise InputError(f"cannot write {str(out)!r}: folder {str(out.parent)!r} does not exist; create it first.")
    if out.exists() and not overwrite:
        raise InputError(f"{str(out)!r} already exists; pass overwrite=True to replace it, or choose another name.")


def progress_bar(plan: BlockPlan, pending: list[int], progress):
    """A tqdm bar over the samples of the ``pending`` blocks of ``plan`` (None: only on a terminal)."""
    from tqdm.auto import tqdm

    total = sum(b - a for a, b in (plan.blocks[i] for i in pending))
    return tqdm(total=total, unit="sample", unit_scale=True, desc=plan.job.kind,
                disable=(None if progress is None else not progress))


__all__ = [
    "BlockJob",
    "BlockPlan",
    "BlockReader",
    "PartialWriter",
    "default_block_size",
    "progress_bar",
    "execute",
    "fit_on_subset",
    "model_fingerprint",
    "plan_recover",
    "plan_simulate",
    "recover_file",
    "run_block_task",
    "simulate_and_recover",
    "simulate_file",
]
