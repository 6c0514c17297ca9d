"""Contiguous ranges of samples of an ARCHS4-layout HDF5 file, for block-by-block processing.

:class:`BlockReader` is :class:`~csgene.io._hdf5.Archs4Source` (the one ARCHS4 reader: layout
detection, names, bounded reads) plus what streaming needs: the sample count, the chunk width
along the sample axis, and reads of ``[start, stop)`` as (samples, genes).
"""

from __future__ import annotations

import numpy as np

from csgene_kernels.threads import available_cores

from ..exceptions import InputError
from ._chunks import direct_chunk_filter, read_samples
from ._common import check_path_exists
from ._hdf5 import Archs4Source, is_anndata, load_oriented, open_hdf5

#: bytes of one float32 block of samples x genes that the default block size aims at
DEFAULT_BLOCK_BYTES = 256 * 2**20


class BlockReader(Archs4Source):
    """An open ARCHS4-layout HDF5 file (generation 1 or 2, or a csgene output file), read in blocks.

    Parameters
    ----------
    path : str or path-like

    Attributes
    ----------
    n_samples, n_genes : int
    sample_axis : int
        Axis of ``data/expression`` that holds samples (1 for generation 2).
    gene_names, sample_names : ndarray of str
    """

    def __init__(self, path):
        path = str(check_path_exists(path))
        with open_hdf5(path) as h5:
            if is_anndata(h5):
                raise InputError(
                    f"{path!r} is AnnData; block processing reads ARCHS4-layout HDF5 only. "
                    f"Convert it with csgene.io.write(path_ending_in_.h5, csgene.io.read(...))."
                )
        super().__init__(path)
        self.sample_axis = self.layout_info.sample_axis
        self.n_samples = self.dataset.shape[self.sample_axis]
        self.n_genes = self.dataset.shape[1 - self.sample_axis]
        #: "deflate"/"none" when chunks are inflated in parallel here (None: HDF5 reads them)
        self.direct_filter = direct_chunk_filter(self.dataset)
        self.threads = available_cores()

    @property
    def sample_chunk(self) -> int:
        """Samples per HDF5 chunk along the sample axis (1 for contiguous files)."""
        chunks = self.dataset.chunks
        return 1 if chunks is None else int(chunks[self.sample_axis])

    def read(self, start: int, stop: int, dtype=np.float32) -> np.ndarray:
        """Samples ``[start, stop)`` as a C-contiguous (stop - start, n_genes) array.

        Gzip-compressed chunked files are inflated on ``threads`` threads (:mod:`csgene.io._chunks`).
        """
        if self.direct_filter is not None and self.threads > 1:
            return read_samples(self.dataset, self.sample_axis, start, stop, dtype, threads=self.threads,
                                kind=self.direct_filter)
        return load_oriented(self.dataset, self.sample_axis, np.arange(start, stop), None, dtype)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def default_block_size(n_columns: int, sample_chunk: int = 1, block_bytes: int = DEFAULT_BLOCK_BYTES) -> int:
    """Samples per block so that a float32 block is about ``block_bytes``, a multiple of the chunk width."""
    n = max(1, block_bytes // (4 * max(n_columns, 1)))
    if n >= sample_chunk:
        n -= n % sample_chunk
    return int(n)


def block_ranges(n_samples: int, block_size: int) -> list[tuple[int, int]]:
    """``[(start, stop), ...]`` covering ``range(n_samples)`` in blocks of ``block_size``."""
    return [(a, min(a + block_size, n_samples)) for a in range(0, n_samples, block_size)]
