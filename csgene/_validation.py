"""Input checks shared by the Python layer. Kernels never validate; everything passes here first.

Messages follow one pattern: what was expected, what was got, and how to fix it.
"""

from __future__ import annotations

import numbers

import numpy as np

from .exceptions import InputError, InputTypeError

FLOAT_DTYPES = (np.float64, np.float32)
#: Largest dense copy (bytes) made of a scipy sparse input: csgene's kernels work on dense
#: arrays, and a sparse single-cell matrix can be many times larger once dense.
MAX_DENSE_BYTES = 4 * 2**30


def densify(X, name: str = "X") -> np.ndarray:
    """A dense array from a scipy sparse matrix or array, refusing copies over :data:`MAX_DENSE_BYTES`.

    csgene's learners and decoders need dense arrays (their kernels read every entry), so
    sparse input is accepted and densified when the dense copy is affordable.
    """
    shape = tuple(int(n) for n in X.shape)
    itemsize = np.dtype(X.dtype).itemsize if np.issubdtype(X.dtype, np.number) else 8
    needed = int(np.prod(shape, dtype=np.float64)) * max(itemsize, 4)
    if needed > MAX_DENSE_BYTES:
        raise InputError(
            f"{name} is a sparse matrix of shape {shape} whose dense copy would take "
            f"{needed / 2**30:.1f} GiB (more than csgene's {MAX_DENSE_BYTES / 2**30:.0f} GiB limit for "
            f"densifying sparse input; csgene's kernels need dense arrays). Select fewer samples or "
            f"genes (e.g. highly variable genes), or stream a file block by block with csgene.scale."
        )
    return X.toarray()


def check_matrix(
    X,
    name: str = "X",
    *,
    dtype=FLOAT_DTYPES,
    nonnegative: bool = False,
    min_rows: int = 1,
    min_cols: int = 1,
    order: str | None = None,
    copy: bool = False,
) -> np.ndarray:
    """Return ``X`` as a finite 2-D float array or raise :class:`InputError`.

    Sparse input is densified (:func:`densify`), numbers held in an object array are
    converted, complex input is refused (its imaginary part would be dropped silently).

    Parameters
    ----------
    X : array-like of shape (n_rows, n_cols)
    name : str
        Name used in messages (e.g. ``"X_train"``).
    dtype : dtype or tuple of dtypes
        Accepted dtypes; the first is used when ``X`` has another dtype.
    nonnegative : bool
        Refuse negative entries (counts, NMF inputs).
    min_rows, min_cols : int
        Minimum shape.
    order : {"C", "F", None}
        Memory layout of the result.
    copy : bool
        Always copy.
    """
    if hasattr(X, "toarray"):
        X = densify(X, name)
    try:
        arr = np.asarray(X)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name} could not be converted to a numeric array ({exc}).") from exc
    if arr.dtype == object:  # numbers held as Python objects (e.g. a mixed DataFrame): convert
        try:
            arr = arr.astype(np.float64)
        except TypeError as exc:
            raise InputTypeError(
                f"{name} holds non-numeric entries ({exc}); remove them or convert {name} with "
                f"np.asarray({name}, dtype=float)."
            ) from exc
        except ValueError as exc:
            raise InputError(
                f"{name} holds entries that are not numbers ({exc}); remove them or convert {name} "
                f"with np.asarray({name}, dtype=float)."
            ) from exc
    if arr.dtype.kind == "c":
        raise InputError(
            f"Complex data not supported: {name} has complex values, and dropping their imaginary "
            f"part would change the data silently. Pass real values (np.real({name}) or np.abs({name}), "
            f"whichever your data mean)."
        )
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise InputError(
            f"{name} must be numeric, got dtype {arr.dtype}. Convert it with "
            f"np.asarray({name}, dtype=float) after removing non-numeric entries."
        )
    if arr.ndim != 2:
        raise InputError(
            f"{name} must be 2-D (n_samples, n_genes), got {arr.ndim}-D with shape {arr.shape}. "
            f"Reshape your data: {name}.reshape(1, -1) for a single sample."
        )
    if arr.shape[0] < min_rows:
        raise InputError(
            f"{name} has {arr.shape[0]} sample(s) (shape={arr.shape}) while a minimum of {min_rows} is "
            f"required; arrays are (n_samples, n_genes), one row per sample."
        )
    if arr.shape[1] < min_cols:
        raise InputError(
            f"{name} has {arr.shape[1]} feature(s) (shape={arr.shape}) while a minimum of {min_cols} is "
            f"required; arrays are (n_samples, n_genes), one column per gene."
        )
    dtypes = dtype if isinstance(dtype, tuple) else (dtype,)
    target = arr.dtype if arr.dtype in dtypes else np.dtype(dtypes[0])
    arr = np.array(arr, dtype=target, order=order or "K", copy=copy or None)
    if order == "C" and not arr.flags.c_contiguous:
        arr = np.ascontiguousarray(arr)
    if order == "F" and not arr.flags.f_contiguous:
        arr = np.asfortranarray(arr)
    finite = np.isfinite(arr)
    if not finite.all():
        bad = np.argwhere(~finite)[0]
        n_bad = int((~finite).sum())
        raise InputError(
            f"{name} contains {n_bad} NaN or infinite value(s) (first at row {bad[0]}, column "
            f"{bad[1]}). Remove or impute them (e.g. np.nan_to_num) before calling csgene."
        )
    if nonnegative and arr.size and arr.min() < 0:
        bad = np.argwhere(arr < 0)[0]
        raise InputError(
            f"Negative values in data: {name} contains negative values (min {arr.min():g}, first at "
            f"row {bad[0]}, column "
            f"{bad[1]}), but counts or nonnegative data are required. Pass raw or "
            f"normalised counts, not log-ratios or centred data."
        )
    return arr


def check_positive_int(value, name: str, *, minimum: int = 1, maximum: int | None = None) -> int:
    """Return ``value`` as an int in ``[minimum, maximum]`` or raise :class:`InputError`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InputError(f"{name} must be an integer, got {value!r} ({type(value).__name__}).")
    value = int(value)
    if value < minimum or (maximum is not None and value > maximum):
        upper = f" and at most {maximum}" if maximum is not None else ""
        raise InputError(f"{name} must be at least {minimum}{upper}, got {value}.")
    return value


def check_positive_float(value, name: str, *, allow_zero: bool = False, allow_inf: bool = False) -> float:
    """Return ``value`` as a float > 0 (or >= 0) or raise :class:`InputError`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InputError(f"{name} must be a number, got {value!r} ({type(value).__name__}).")
    value = float(value)
    if np.isnan(value) or (np.isinf(value) and not allow_inf) or value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise InputError(f"{name} must be finite and {bound}, got {value}.")
    return value


def check_same_width(A: np.ndarray, B: np.ndarray, a_name: str, b_name: str, what: str = "genes") -> None:
    """Raise :class:`InputError` unless ``A`` and ``B`` have the same number of columns."""
    if A.shape[1] != B.shape[1]:
        raise InputError(
            f"{a_name} has {A.shape[1]} {what} (columns) but {b_name} has {B.shape[1]}. "
            f"Both must use the same {what} in the same order; arrays are (n_samples, n_genes)."
        )


def check_unique(values, name: str) -> list:
    """Return ``values`` as a list, refusing repeats (a repeated entry would fake replication)."""
    values = list(values)
    repeated = sorted({v for v in values if values.count(v) > 1}, key=values.index)
    if repeated:
        raise InputError(f"{name} lists {', '.join(map(str, repeated))} more than once; give each value once.")
    return values


def gene_positions(names, wanted, where: str) -> np.ndarray:
    """Columns of ``names`` holding the genes ``wanted``, in that order.

    Refuses, instead of guessing, when a wanted gene is missing or appears more than once.
    """
    names = np.asarray(names).astype(str)
    position: dict[str, int] = {}
    repeated = set()
    for i, name in enumerate(names.tolist()):
        if name in position:
            repeated.add(name)
        position[name] = i
    wanted = np.asarray(wanted).astype(str).tolist()
    missing = [g for g in wanted if g not in position]
    if missing:
        raise InputError(
            f"{len(missing)} of the model's {len(wanted)} genes are not in {where} (e.g. "
            f"{', '.join(missing[:5])}); the data must contain every gene the model was fitted on."
        )
    ambiguous = [g for g in wanted if g in repeated]
    if ambiguous:
        raise InputError(
            f"{where} names {len(ambiguous)} of the model's genes more than once (e.g. "
            f"{', '.join(ambiguous[:5])}), so which column to use is ambiguous; keep one column per gene."
        )
    return np.array([position[g] for g in wanted], dtype=np.intp)


#: Smallest SNR accepted: below it the noise (||X|| / snr) dwarfs any signal, and overflows to inf
#: well before snr reaches 1e-300.
MIN_SNR = 1e-6


def check_snr(value, name: str = "snr") -> float:
    """Return ``value`` as an SNR in ``[MIN_SNR, inf]`` (inf: no noise) or raise :class:`InputError`."""
    value = check_positive_float(value, name, allow_inf=True)
    if value < MIN_SNR:
        raise InputError(f"{name} must be at least {MIN_SNR:g} (inf for no noise), got {value:g}; a smaller "
                         f"SNR makes noise that swamps any signal and overflows.")
    return value
