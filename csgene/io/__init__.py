"""Read and write expression matrices as (n_samples, n_genes).

Formats: ARCHS4 HDF5 of both generations (orientation detected from the gene list, subsets read
in bounded sorted blocks), AnnData ``.h5ad``, CSV/TSV (plain or gzipped), ``.npy`` and ``.npz``.
Samples can be chosen by name, index, at random, and in ARCHS4 files by metadata text or GEO
series; their metadata comes back as ``ExpressionData.obs``.

>>> from csgene import io
>>> data = io.read("human_gene_v2.2.h5", n_samples=10000, n_genes=500, random_state=0)  # doctest: +SKIP
>>> print(io.describe("human_gene_v2.2.h5"))  # doctest: +SKIP
>>> myoblasts = io.read("human_gene_v2.2.h5", search="myoblast", genes=["MYOD1", "DES"])  # doctest: +SKIP
>>> myoblasts.obs[["title", "series_id"]]  # doctest: +SKIP
"""

from ._api import FORMATS, describe, detect_format, read, read_metadata, write
from ._common import DataFileNotFoundError, Description, ExpressionData, file_fingerprint, same_file_content
from ._blocks import DEFAULT_BLOCK_BYTES, BlockReader, block_ranges, default_block_size
from ._hdf5 import read_selection
from ._lists import read_name_list, selection_arguments
from ._metadata import SEARCH_FIELDS
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
    "read_metadata",
    "read_name_list",
    "read_selection",
    "SEARCH_FIELDS",
    "selection_arguments",
    "same_file_content",
    "write",
]
