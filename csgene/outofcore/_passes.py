"""Passes over the blocks of an expression file, and the checkpoint kept between them.

A *pass* reads every block of samples of an ARCHS4-layout HDF5 file (:class:`csgene.io.BlockReader`),
applies the fitted preprocessing, runs a *task* on the block and reduces the tasks' results in
block order (sums, minima, maxima, or rows kept per sample). Reducing in block order makes a
pass's result independent of where blocks ran: one process and a Dask cluster
(:class:`csgene.distributed.BlockExecutor`) give the same bits.

A task is a picklable callable ``task(X, start, stop, inputs) -> dict`` with a class attribute
``how``: ``{name: "sum" | "min" | "max" | "rows"}``. ``inputs`` is what the driver hands that
block (``task.block_inputs(index, start, stop)``, drawn in block order on the driver, so
random draws follow one stream whatever the executor).

:class:`Checkpoint` stores the result of every finished step (a pass plus the work after it)
in one ``.npz`` file, written atomically; a run with the same fingerprint skips the finished
steps, so a fit killed after pass k and run again gives the identical model.
"""

from __future__ import annotations

import hashlib
import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from .._atomic import atomic_path
from .._validation import check_positive_int
from ..exceptions import InputError
from ..io import BlockReader, block_ranges, default_block_size

REDUCTIONS = ("sum", "min", "max", "rows")
#: checkpoint key holding the JSON record (fingerprint, finished steps)
META_KEY = "__meta__"


class PassJob:
    """What a worker needs to compute one block of a pass (picklable).

    Parameters
    ----------
    path : str
        The expression file.
    dtype : numpy dtype
        dtype blocks are read in (and preprocessed in).
    steps : list of fitted preprocessing steps
        Applied in order to each block before the task (empty: raw values).
    task : callable
        ``task(X, start, stop, inputs) -> dict``.
    """

    def __init__(self, path, dtype, steps, task):
        self.path = str(path)
        self.dtype = np.dtype(dtype)
        self.steps = list(steps)
        self.task = task

    def block(self, reader, start: int, stop: int) -> np.ndarray:
        X = reader.read(start, stop, self.dtype)
        for step in self.steps:
            X = np.ascontiguousarray(step.transform(X))
        return X

    def run(self, start: int, stop: int, inputs=None, reader=None) -> dict:
        """The task's result on samples ``[start, stop)`` (opens the file unless given a reader)."""
        own = reader is None
        reader = BlockReader(self.path) if own else reader
        try:
            X = self.block(reader, start, stop)
        finally:
            if own:
                reader.close()
        return self.task(X, start, stop, inputs)


class LocalExecutor:
    """Runs the blocks of a pass in this process, one after another, reading the next block ahead.

    While the task works on block i, a background thread reads and preprocesses block i + 1
    (HDF5 reading and inflating release the GIL), so at most two blocks are held at once.
    """

    def results(self, job: PassJob, blocks, inputs):
        """Yield each block's result, in block order (``inputs``: an iterator, one item per block)."""
        blocks = list(blocks)
        with BlockReader(job.path) as reader, ThreadPoolExecutor(max_workers=1) as reading:
            ahead = reading.submit(job.block, reader, *blocks[0]) if blocks else None
            for i, ((start, stop), extra) in enumerate(zip(blocks, inputs)):
                X = ahead.result()
                if i + 1 < len(blocks):
                    ahead = reading.submit(job.block, reader, *blocks[i + 1])
                yield job.task(X, start, stop, extra)
                del X


class OrderedReduction:
    """Combines per-block results in block order, whatever order they arrive in."""

    def __init__(self, how: dict):
        unknown = {k: v for k, v in how.items() if v not in REDUCTIONS}
        if unknown:
            raise ValueError(f"unknown reductions {unknown}; use one of {REDUCTIONS}")
        self.how = how
        self.total: dict = {}

    def add(self, part: dict) -> None:
        for name, value in part.items():
            kind = self.how[name]
            if kind == "rows":
                self.total.setdefault(name, []).append(np.asarray(value))
                continue
            value = np.asarray(value, dtype=np.float64) if kind == "sum" else np.asarray(value)
            if name not in self.total:
                self.total[name] = value.copy()
            elif kind == "sum":
                self.total[name] += value
            elif kind == "min":
                self.total[name] = np.minimum(self.total[name], value)
            else:
                self.total[name] = np.maximum(self.total[name], value)

    def result(self) -> dict:
        return {name: (np.concatenate(v) if self.how[name] == "rows" else v) for name, v in self.total.items()}


class BlockStream:
    """An expression file read pass by pass in blocks of samples.

    Parameters
    ----------
    path : str or path-like
        ARCHS4-layout HDF5 (generation 1 or 2, or a csgene output file).
    block_size : int or None
        Samples per block; None: about 256 MB of float32 per block, a multiple of the file's
        chunk width.
    dtype : {"float64", "float32"}
        dtype blocks are read and preprocessed in.
    executor : LocalExecutor or csgene.distributed.BlockExecutor, optional
    progress : bool or None
        A tqdm bar per pass (None: only on a terminal).
    """

    def __init__(self, path, *, block_size=None, dtype="float64", executor=None, progress=None):
        dtype = np.dtype(dtype)
        if dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
            raise InputError(f"dtype must be 'float32' or 'float64', got {dtype}.")
        with BlockReader(path) as reader:
            self.path = reader.path
            self.n_samples, self.n_genes = reader.n_samples, reader.n_genes
            self.gene_names = reader.gene_names
            size = (default_block_size(reader.n_genes, reader.sample_chunk) if block_size is None
                    else check_positive_int(block_size, "block_size"))
            stat = os.stat(reader.path)
            self.identity = {"shape": list(reader.dataset.shape), "dtype": str(reader.dataset.dtype),
                             "size": stat.st_size, "mtime_ns": stat.st_mtime_ns,
                             "name": os.path.basename(reader.path)}
        if self.n_samples < 2:
            raise InputError(f"{self.path!r} has {self.n_samples} sample(s); a fit needs at least 2.")
        self.block_size = size
        self.blocks = block_ranges(self.n_samples, size)
        self.dtype = dtype
        self.steps: list = []
        self.executor = executor or LocalExecutor()
        self.progress = progress

    def run(self, task, desc: str) -> dict:
        """One pass of ``task`` over every block; the reduced results."""
        make_inputs = getattr(task, "block_inputs", None)
        # drawn lazily, in block order (bounded memory; one random stream whatever the executor)
        inputs = (None if make_inputs is None else make_inputs(i, a, b) for i, (a, b) in enumerate(self.blocks))
        job = PassJob(self.path, self.dtype, self.steps, task)
        reduction = OrderedReduction(task.how)
        with _bar(self.n_samples, desc, self.progress) as bar:
            for (start, stop), part in zip(self.blocks, self.executor.results(job, self.blocks, inputs)):
                reduction.add(part)
                bar.update(stop - start)
        return reduction.result()


class Checkpoint:
    """Results of finished steps, saved atomically after each step (or kept in memory only).

    Parameters
    ----------
    path : str, path-like or None
        ``.npz`` file; None keeps nothing on disk (no resume).
    fingerprint : str
        What made the steps (file identity and every setting); a file with another is refused.
    resume : bool
        Load finished steps from ``path`` when it exists (else start over).
    on_step : callable, optional
        Called with each step's name after it is saved (monitoring; tests inject a kill here).
    """

    def __init__(self, path, fingerprint: str, *, resume: bool = True, on_step=None):
        self.path = None if path is None else Path(path)
        self.fingerprint = fingerprint
        self.on_step = on_step
        self.results: dict[str, dict] = {}
        self.order: list[str] = []
        if self.path is not None and self.path.exists() and resume:
            self._load()

    def _load(self) -> None:
        try:
            with np.load(self.path, allow_pickle=False) as saved:
                meta = json.loads(str(saved[META_KEY]))
                arrays = {key: saved[key] for key in saved.files if key != META_KEY}
        except (OSError, ValueError, KeyError) as exc:
            raise InputError(f"cannot resume from checkpoint {str(self.path)!r} ({exc}); delete it to start over.") \
                from exc
        if meta.get("fingerprint") != self.fingerprint:
            raise InputError(
                f"checkpoint {str(self.path)!r} was made by a fit with another file, method or settings, so "
                f"it cannot be resumed here. Delete it (or pass resume=False; on the command line "
                f"--no-resume), or rerun with the settings that made it."
            )
        self.order = list(meta["steps"])
        for name in self.order:
            prefix = f"{name}/"
            self.results[name] = {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}

    def done(self, name: str) -> bool:
        """Whether step ``name`` has finished (here or in the run that wrote the checkpoint)."""
        return name in self.results

    def step(self, name: str, compute, drop=()) -> dict:
        """``compute()``'s dict of arrays, from the checkpoint when this step already finished.

        ``drop``: ``(step, key)`` pairs no longer needed once this step is done (superseded
        iterates), removed before the checkpoint is written so that it stays model-sized.
        """
        if name in self.results:
            return self.results[name]
        result = {k: np.asarray(v) for k, v in compute().items()}
        self.results[name] = result
        self.order.append(name)
        for step, key in drop:
            self.results.get(step, {}).pop(key, None)
        self._save()
        if self.on_step is not None:
            self.on_step(name)
        return result

    def _save(self) -> None:
        if self.path is None:
            return
        arrays = {f"{name}/{key}": value for name in self.order for key, value in self.results[name].items()}
        arrays[META_KEY] = np.array(json.dumps({"fingerprint": self.fingerprint, "steps": self.order}))
        with atomic_path(self.path, suffix=".npz") as tmp, open(tmp, "wb") as fh:
            np.savez(fh, **arrays)

    def discard(self) -> None:
        """Remove the checkpoint file (after a finished fit)."""
        if self.path is not None and self.path.exists():
            self.path.unlink()


def fingerprint(identity: dict, settings: dict) -> str:
    """SHA-256 of the input file's identity and the fit's settings."""
    text = json.dumps({"input": identity, "settings": settings}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _bar(total: int, desc: str, progress):
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="sample", unit_scale=True, desc=desc,
                disable=(None if progress is None else not progress), leave=False)
