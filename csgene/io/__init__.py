"""Read and write expression matrices as (n_samples, n_genes).

Formats: ARCHS4 HDF5 of both generations (orientation detected from the gene list, subsets read
in bounded sorted blocks), AnnData ``.h5ad``, CSV/TSV (plain or gzipped), ``.npy`` and ``.npz``.

>>> from csgene import io
>>> data = io.read("human_gene_v2.2.h5", n_samples=10000, n_genes=500, random_state=0)  # doctest: +SKIP
>>> print(io.describe("human_gene_v2.2.h5"))  # doctest: +SKIP
"""

from ._api import FORMATS, describe, detect_format, read, write
from ._common import DataFileNotFoundError, Description, ExpressionData, file_fingerprint, same_file_content
from ._blocks import DEFAULT_BLOCK_BYTES, BlockReader, block_ranges, default_block_size
from ._hdf5 import read_selection
from ._partial import PartialWriter

__all__ = [
    "DEFAULT_BLOCK_BYTES",
    "FORMATS",
    "BlockReader",
    "DataFileNotFoundError",
    "Description",
    "ExpressionData",
    "PartialWriter",
    "block_ranges",
    "default_block_size",
    "describe",
    "detect_format",
    "file_fingerprint",
    "read",
    "read_selection",
    "same_file_content",
    "write",
]
