"""Per-sample metadata of ARCHS4 files: read it with the data, select samples by text search or series.

ARCHS4 keeps one 1-D dataset per metadata field, with one entry per sample: generation 2
under ``meta/samples/<field>`` (``title``, ``source_name_ch1``, ``characteristics_ch1``,
``series_id``, ...), generation 1 as ``meta/Sample_<field>``. The search follows archs4py's
``meta(file, "myoblast")``: a case-insensitive substring match in the sample's title, source name
or characteristics; a series selection keeps the samples whose ``series_id`` lists the GSE id
(ARCHS4 joins several series of one sample with commas).
"""

from __future__ import annotations

import re

import h5py
import numpy as np

from .._optional import available
from ..exceptions import InputError
from ._common import as_str_array, describe_names

#: fields searched by ``search=`` (archs4py's ``meta`` searches these too)
SEARCH_FIELDS = ("title", "source_name_ch1", "characteristics_ch1")
#: field holding the GSE ids of each sample's series
SERIES_FIELD = "series_id"
#: where each generation keeps the fields: format with the field name
FIELD_PATHS = ("meta/samples/{}", "meta/Sample_{}")
_SERIES_SPLIT = re.compile(r"[,;\s]+")


def field_paths(h5: h5py.File, n_samples: int, skip: tuple = ()) -> dict[str, str]:
    """Metadata fields of the file as {field name: dataset path}: every 1-D dataset with one entry
    per sample under ``meta/samples`` (generation 2) or named ``meta/Sample_*`` (generation 1)."""
    found: dict[str, str] = {}
    group = h5.get("meta/samples")
    if isinstance(group, h5py.Group):
        found.update({name: f"meta/samples/{name}" for name, obj in group.items() if _is_column(obj, n_samples)})
    meta = h5.get("meta")
    if isinstance(meta, h5py.Group):
        for name, obj in meta.items():
            if name.startswith("Sample_") and _is_column(obj, n_samples):
                found.setdefault(name[len("Sample_"):], f"meta/{name}")
    return {name: path for name, path in found.items() if path not in skip}


def _is_column(obj, n_samples: int) -> bool:
    return isinstance(obj, h5py.Dataset) and obj.ndim == 1 and obj.shape[0] == n_samples


def read_column(ds: h5py.Dataset, rows: np.ndarray | None) -> np.ndarray:
    """One metadata field for sorted unique ``rows`` (None: all): strings decoded, numbers as they are."""
    values = ds[()] if rows is None or len(rows) == ds.shape[0] else ds[np.asarray(rows, dtype=np.intp)]
    if values.dtype.kind in "SUO":
        return as_str_array(values)
    return np.asarray(values)


def load_obs(h5: h5py.File, fields: dict[str, str], sample_idx: np.ndarray, sample_names: np.ndarray):
    """The metadata of the samples ``sample_idx`` (in that order) as a DataFrame, or None without pandas."""
    if not fields or not available("pandas"):
        return None
    import pandas

    order = np.argsort(sample_idx, kind="stable")
    sorted_rows, back = sample_idx[order], np.argsort(order)
    columns = {name: read_column(h5[path], sorted_rows)[back] for name, path in fields.items()}
    return pandas.DataFrame(columns, index=pandas.Index(sample_names.tolist(), dtype=str))


def match_mask(h5: h5py.File, fields: dict[str, str], search, series, path: str) -> np.ndarray | None:
    """Full-length mask of the samples matching ``search`` (text) and ``series`` (GSE ids); None: no filter.

    Raises
    ------
    InputError
        The file lacks the fields searched, a search text or series is empty, or nothing matches.
    """
    if search is None and series is None:
        return None
    mask = None
    if search is not None:
        mask = _search_mask(h5, fields, search, path)
    if series is not None:
        series_mask = _series_mask(h5, fields, series, path)
        mask = series_mask if mask is None else mask & series_mask
        if not mask.any():
            raise InputError(
                f"no sample of {path!r} both matches search={search!r} and belongs to series "
                f"{', '.join(_series_list(series))}; each matches some samples alone. Drop one of the two."
            )
    return mask


def _search_mask(h5, fields, search, path) -> np.ndarray:
    text = str(search).strip().lower()
    if not text:
        raise InputError("search= is empty; give the text to look for, e.g. search='myoblast'.")
    present = [name for name in SEARCH_FIELDS if name in fields]
    if not present:
        raise InputError(
            f"search={search!r} needs sample metadata ({', '.join(SEARCH_FIELDS)} under meta/samples, as in "
            f"ARCHS4 files), but {path!r} has none of these fields"
            f"{f' (it has {describe_names(sorted(fields))})' if fields else ''}. Select samples by name "
            f"with samples= instead."
        )
    mask = np.zeros(h5[fields[present[0]]].shape[0], dtype=bool)
    for name in present:
        mask |= np.char.find(np.char.lower(read_column(h5[fields[name]], None).astype(str)), text) >= 0
    if not mask.any():
        raise InputError(
            f"no sample of {path!r} mentions {search!r} in its {', '.join(present)} (case ignored); "
            f"try a shorter or more general text."
        )
    return mask


def _series_list(series) -> list[str]:
    items = [series] if isinstance(series, str) else list(series)
    return [s.strip().upper() for item in items for s in _SERIES_SPLIT.split(str(item)) if s.strip()]


def _series_mask(h5, fields, series, path) -> np.ndarray:
    wanted = _series_list(series)
    if not wanted:
        raise InputError("series= is empty; give one or more GSE ids, e.g. series='GSE64016'.")
    if SERIES_FIELD not in fields:
        raise InputError(
            f"series={series!r} needs each sample's series ({FIELD_PATHS[0].format(SERIES_FIELD)} or "
            f"{FIELD_PATHS[1].format(SERIES_FIELD)}, as in ARCHS4 files), but {path!r} has none. Select "
            f"samples by name with samples= instead."
        )
    column = read_column(h5[fields[SERIES_FIELD]], None).astype(str)
    members = [set(_SERIES_SPLIT.split(value.upper())) for value in column.tolist()]
    mask = np.array([not members_i.isdisjoint(wanted) for members_i in members], dtype=bool)
    missing = [gse for gse in wanted if not any(gse in members_i for members_i in members)]
    if missing:
        raise InputError(
            f"series {', '.join(missing)} not found in {path!r} (no sample lists it in {SERIES_FIELD}); "
            f"check the GSE id."
        )
    return mask


def write_obs(h5: h5py.File, obs, skip=()) -> None:
    """Write the columns of ``obs`` as ``meta/samples/<column>`` datasets (numbers as numbers, the rest
    as UTF-8 strings), so that :class:`Archs4Source` reads them back as metadata."""
    strings = h5py.string_dtype("utf-8")
    for column in obs.columns:
        name = str(column)
        if name in skip or "/" in name:
            continue
        values = obs[column].to_numpy()
        if values.dtype.kind in "biuf":
            h5.create_dataset(f"meta/samples/{name}", data=values)
        else:
            h5.create_dataset(f"meta/samples/{name}", data=np.array([str(v) for v in values], dtype=object),
                              dtype=strings)
