"""Plain-text lists of names (GSM ids, gene symbols), one per line, for selections."""

from __future__ import annotations

import numpy as np

from ..exceptions import InputError
from ._common import check_path_exists, describe_names, duplicated


def read_name_list(path, what: str = "names") -> np.ndarray:
    """Names from a text file: one per line; blank lines and lines starting with ``#`` are skipped,
    surrounding spaces and a trailing comma or tab-separated rest of the line are dropped.

    Parameters
    ----------
    path : str or path-like
    what : str
        What the names are, for messages (e.g. ``"sample ids"``).

    Returns
    -------
    ndarray of str
        The names in file order.

    Raises
    ------
    InputError
        The file does not exist, holds no names, or repeats one.
    """
    path = check_path_exists(path)
    names = []
    with open(path, encoding="utf-8-sig") as fh:
        for line in fh:
            name = line.split("\t")[0].split(",")[0].strip()
            if name and not name.startswith("#"):
                names.append(name)
    if not names:
        raise InputError(f"{str(path)!r} holds no {what}; write one per line (lines starting with # are skipped).")
    names = np.array(names, dtype=str)
    repeated = duplicated(names)
    if len(repeated):
        raise InputError(f"{str(path)!r} lists {what} more than once: {describe_names(repeated)}; list each once.")
    return names


def selection_arguments(samples_from=None, genes_from=None, search=None, series=None, layer=None) -> dict:
    """Keyword arguments of :func:`csgene.io.read` from the command line's selection flags.

    Parameters
    ----------
    samples_from, genes_from : path, optional
        Files of sample ids and gene symbols (:func:`read_name_list`).
    search : str, optional
        Metadata text of ARCHS4 samples.
    series : str, optional
        Comma list of GEO series ids.
    layer : str, optional
        AnnData layer.

    Returns
    -------
    dict
        ``samples``, ``genes``, ``search``, ``series``, ``layer`` (None where not given).
    """
    return {
        "samples": None if samples_from is None else read_name_list(samples_from, "sample ids"),
        "genes": None if genes_from is None else read_name_list(genes_from, "gene symbols"),
        "search": search,
        "series": None if series is None else [s for s in str(series).split(",") if s.strip()],
        "layer": layer,
    }
