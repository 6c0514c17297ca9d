"""CSV/TSV tables (plain or gzipped): rows are samples, first column ids, header row gene names.

Parsed with the standard library's :mod:`csv` (quoting handled) and numpy's string-to-float
conversion, so pandas is not needed; a file that fails names the line and column at fault.
"""

from __future__ import annotations

import csv
import gzip
import zlib
from urllib.parse import quote, unquote

import numpy as np

from ..exceptions import DataFormatError, InputError
from ._common import Description, ExpressionData
from ._hdf5 import value_summary

GZIP_MAGIC = b"\x1f\x8b"
#: rows parsed by describe() for the value range
DESCRIBE_ROWS = 20


def is_gzipped(path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(2) == GZIP_MAGIC


def open_text(path):
    """Open a text table for reading, decompressing gzip (detected from its magic bytes)."""
    if is_gzipped(path):
        return gzip.open(path, "rt", encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")


def _pick_delimiter(first_line: str, preferred: str) -> str:
    """The preferred delimiter unless the header only makes sense with the other one."""
    other = "\t" if preferred == "," else ","
    if preferred not in first_line and other in first_line:
        return other
    return preferred


class TableSource:
    """A parsed table held in memory (rows are samples after the optional transpose)."""

    def __init__(self, path: str, delimiter: str, transpose: bool, layout: str):
        self.path = path
        self.layout = layout + (" (transposed)" if transpose else "")
        values, row_names, col_names, self.attrs = parse_table(path, delimiter, with_attrs=True)
        if transpose:
            values, row_names, col_names = values.T, col_names, row_names
        self.values = values
        self.sample_names, self.gene_names = row_names, col_names
        self.singlecell = None

    def load(self, sample_idx, gene_idx, dtype) -> np.ndarray:
        values = self.values if sample_idx is None else self.values[sample_idx]
        values = values if gene_idx is None else values[:, gene_idx]
        return np.asarray(values, dtype=dtype, order="C")

    def close(self):
        self.values = None


def parse_table(path: str, delimiter: str, max_rows: int | None = None, with_attrs: bool = False):
    """Return (float64 values, row ids, column names) of a delimited table, and with
    ``with_attrs`` the provenance marks of the header's first cell (see :func:`id_header`).

    The header may either name the id column too (``sample,g1,g2``) or only the value columns
    (``g1,g2``, as R's ``write.csv`` does).
    """
    try:
        with open_text(path) as fh:
            first = fh.readline()
            if not first.strip():
                raise DataFormatError(f"{path!r} is empty or starts with a blank line; the first line must be the header.")
            delimiter = _pick_delimiter(first, delimiter)
            header = next(csv.reader([first], delimiter=delimiter))
            values, row_ids, col_names = _parse_rows(path, csv.reader(fh, delimiter=delimiter), header, max_rows)
    except (UnicodeDecodeError, gzip.BadGzipFile, EOFError, zlib.error, csv.Error) as exc:
        raise DataFormatError(
            f"{path!r} could not be read as a UTF-8 text table ({type(exc).__name__}: {exc}). "
            f"Check that it is a complete CSV/TSV file (gzipped or plain), or pass format=."
        ) from exc
    _check_header(path, col_names)
    if not with_attrs:
        return values, row_ids, col_names
    attrs = _header_attrs(header[0]) if len(header) == len(col_names) + 1 else {}
    return values, row_ids, col_names, attrs


def id_header(attrs: dict) -> str:
    """The header's first cell: ``sample``, then ``key=value`` provenance marks (URL-quoted)."""
    return " ".join(["sample", *(f"{k}={quote(v, safe='')}" for k, v in sorted(attrs.items()))])


def _header_attrs(cell: str) -> dict:
    marks = (token.split("=", 1) for token in cell.split() if "=" in token)
    return {key: unquote(value) for key, value in marks if key.startswith("csgene_")}


def _check_header(path: str, col_names: np.ndarray) -> None:
    """Refuse a header of numbers: the file has no header line, or it is a matrix of genes x samples
    whose orientation cannot be told from names."""
    try:
        np.asarray(col_names, dtype=np.float64)
    except ValueError:
        return
    raise InputError(
        f"{path!r}: the column names of the first line are all numbers ({', '.join(col_names[:3])}, ...), "
        f"so csgene cannot tell a header from data. Start the file with a header line naming the "
        f"columns (sample,GENE1,GENE2,...); rows are samples."
    )


def _parse_rows(path, reader, header, max_rows):
    row_ids, rows = [], []
    width = None
    for line_number, row in enumerate(reader, start=2):
        if not row:
            continue
        if width is None:
            width = len(row)
            if width not in (len(header), len(header) + 1) or width < 2:
                raise _ragged(path, line_number, row, len(header), header_fields=len(header))
        elif len(row) != width:
            raise _ragged(path, line_number, row, width, header_fields=len(header))
        row_ids.append(row[0])
        rows.append(_numbers(path, line_number, row, header))
        if max_rows is not None and len(rows) >= max_rows:
            break
    if not rows:
        raise InputError(f"{path!r} has a header but no data rows; it holds no samples.")
    col_names = header[1:] if width == len(header) else header
    return np.vstack(rows), np.array(row_ids, dtype=str), np.array(col_names, dtype=str)


def _ragged(path, line_number, row, expected, header_fields):
    return DataFormatError(
        f"{path!r} line {line_number} (row id {row[0]!r}) has {len(row)} fields, but {expected} were "
        f"expected (the header has {header_fields}). Every row needs one id and then one value per "
        f"column; fix or remove that line."
    )


def _numbers(path, line_number, row, header) -> np.ndarray:
    cells = row[1:]
    try:
        return np.array(cells, dtype=np.float64)
    except ValueError:
        pass
    offset = len(header) - len(cells)  # 1 when the header names the id column
    for column, cell in enumerate(cells, start=1):
        try:
            float(cell)
        except ValueError:
            name = header[column - 1 + offset] if 0 <= column - 1 + offset < len(header) else "?"
            raise InputError(
                f"{path!r} line {line_number} (row id {row[0]!r}), column {column + 1} ({name!r}) holds "
                f"{cell!r}, which is not a number. Every cell after the id column must be numeric; "
                f"write missing values as 0 (or NaN and impute them)."
            ) from None
    raise InputError(f"{path!r} line {line_number} (row id {row[0]!r}) has cells that are not numbers.")


def describe_table(path: str, delimiter: str, layout: str) -> Description:
    values, _, col_names = parse_table(path, delimiter, max_rows=DESCRIBE_ROWS)
    n_rows = _count_data_lines(path)
    details = {
        "compression": "gzip" if is_gzipped(path) else "none",
        "columns": f"{len(col_names)} (first: {', '.join(col_names[:3])})",
        "value range": value_summary(values, f"first {len(values)} rows"),
        "note": "rows are taken as samples; pass transpose=True if rows are genes",
    }
    return Description(path, layout, layout, (n_rows, len(col_names)), "text", "rows x columns", details)


def _count_data_lines(path: str) -> int:
    """Non-blank lines after the header (counts quoted newlines wrongly, which describe() tolerates)."""
    opener = gzip.open if is_gzipped(path) else open
    count = 0
    with opener(path, "rb") as fh:
        for line in fh:
            count += bool(line.strip())
    return max(count - 1, 0)


def write_table(path: str, data: ExpressionData, delimiter: str, compress: bool) -> None:
    """Write a table whose numbers read back exactly (9 significant digits for float32, else 17)."""
    number = "%.9g" if data.X.dtype == np.float32 else "%.17g"
    opener = gzip.open if compress else open
    with opener(path, "wt", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, delimiter=delimiter, lineterminator="\n")
        writer.writerow([id_header(data.attrs), *data.gene_names.tolist()])
        for name, row in zip(data.sample_names.tolist(), data.X):
            writer.writerow([name, *(number % value for value in row.tolist())])
