"""Resumable block-by-block output: ``OUT.partial`` with a done mask, renamed to ``OUT`` when whole.

:class:`PartialWriter` writes blocks of rows (samples) of one HDF5 matrix in any order. The file is
first ``OUT.partial`` holding ``data/expression`` (n_samples, n_columns), ``meta/genes``,
``meta/Sample_geo_accession``, a per-block done mask (``csgene/done``) and a fingerprint of
whatever made it; a later writer with the same fingerprint resumes it, one with another
fingerprint is refused. Only when every block is done is it renamed to ``OUT`` (readable by
:func:`csgene.io.read` in the ARCHS4 generation-1 orientation).

The writer needs a *plan*: any object with ``out`` (Path), ``n_samples``, ``block_size``,
``blocks`` (list of ``(start, stop)``), ``column_names``, ``sample_names``, ``fingerprint``,
``compression`` and ``attrs`` (see :class:`csgene.scale.BlockPlan`).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import h5py
import numpy as np

from ..exceptions import InputError
from ._hdf5 import EXPRESSION

#: rows of an output chunk (samples); columns are whole up to OUTPUT_CHUNK_COLUMNS
OUTPUT_CHUNK_ROWS = 128
OUTPUT_CHUNK_COLUMNS = 8192
PARTIAL_SUFFIX = ".partial"
DONE_MASK = "csgene/done"
FORMAT_TAG = "csgene-blocks"


class PartialWriter:
    """Writes blocks to ``OUT.partial`` with a done mask; renames it to ``OUT`` when all are done.

    Opening resumes a partial file with the same fingerprint and refuses one with another.

    Parameters
    ----------
    plan : BlockPlan-like
        Where and what to write (see the module docstring).
    dtype : numpy dtype
        dtype of ``data/expression`` when the file is created.
    resume : bool
        Continue an existing ``OUT.partial`` (True) or overwrite it (False).
    """

    def __init__(self, plan: BlockPlan, dtype, resume: bool = True):
        self.plan = plan
        self.partial = plan.out.with_name(plan.out.name + PARTIAL_SUFFIX)
        if self.partial.exists() and resume:
            self.file = self._reopen()
        else:
            self.file = self._create(np.dtype(dtype))
        self.dataset = self.file[EXPRESSION]
        self.done = self.file[DONE_MASK]

    def _reopen(self) -> h5py.File:
        try:
            fh = h5py.File(self.partial, "r+")
        except OSError as exc:
            raise InputError(
                f"cannot resume from {str(self.partial)!r}: it is not readable HDF5 ({exc}); the run that "
                f"wrote it was probably killed mid-write. Delete it to start over."
            ) from exc
        found = fh.attrs.get("csgene_fingerprint")
        if found != self.plan.fingerprint or DONE_MASK not in fh:
            fh.close()
            raise InputError(
                f"{str(self.partial)!r} is a partial result made with a different model, input or "
                f"settings, so it cannot be resumed here. Delete it (or pass resume=False to overwrite "
                f"it), or rerun with the model, input and settings that made it."
            )
        return fh

    def _create(self, dtype) -> h5py.File:
        plan = self.plan
        n_cols = len(plan.column_names)
        fh = h5py.File(self.partial, "w")
        fh.attrs["format"] = FORMAT_TAG
        fh.attrs["csgene_fingerprint"] = plan.fingerprint
        fh.attrs["csgene_layout"] = "samples x genes"
        fh.attrs["block_size"] = plan.block_size
        for key, value in plan.attrs.items():
            fh.attrs[key] = value
        chunks = None
        if plan.n_samples and n_cols:
            chunks = (_chunk_rows(plan.block_size, plan.n_samples), _chunk_columns(n_cols))
        fh.create_dataset(EXPRESSION, shape=(plan.n_samples, n_cols), dtype=dtype, chunks=chunks,
                          compression=plan.compression if chunks else None)
        strings = h5py.string_dtype("utf-8")
        fh.create_dataset("meta/genes", data=plan.column_names.astype(object), dtype=strings)
        fh.create_dataset("meta/Sample_geo_accession", data=plan.sample_names.astype(object), dtype=strings)
        fh.create_dataset(DONE_MASK, data=np.zeros(len(plan.blocks), dtype=bool))
        fh.flush()
        return fh

    def pending(self) -> list[int]:
        """Indices of the blocks not yet written."""
        return [int(i) for i in np.flatnonzero(~self.done[()])]

    def write(self, index: int, values: np.ndarray) -> None:
        start, stop = self.plan.blocks[index]
        self.dataset[start:stop] = values
        self.file.flush()  # data on disk before the mask says so
        self.done[index] = True
        self.file.flush()

    def finish(self) -> Path:
        """Rename to OUT if every block is done (else leave the partial file); return OUT."""
        complete = bool(self.done[()].all())
        self.file.close()
        if not complete:
            raise InputError(f"{str(self.partial)!r} still has blocks to write; run the same call again to resume.")
        os.replace(self.partial, self.plan.out)
        return self.plan.out

    def close(self):
        if self.file.id.valid:
            self.file.close()


def _chunk_rows(block_size: int, n_samples: int) -> int:
    rows = math.gcd(block_size, OUTPUT_CHUNK_ROWS) if block_size > OUTPUT_CHUNK_ROWS else block_size
    return max(1, min(rows, n_samples))


def _chunk_columns(n_columns: int) -> int:
    """Equal column chunks of at most OUTPUT_CHUNK_COLUMNS (a ragged last chunk would waste space)."""
    return -(-n_columns // -(-n_columns // OUTPUT_CHUNK_COLUMNS))
