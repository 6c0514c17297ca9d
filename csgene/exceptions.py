"""Exceptions raised by csgene.

Every error a user can cause is a :class:`CsgeneError` subclass whose message names the
problem and the fix; the command line prints it as one line without a traceback.
"""


class CsgeneError(Exception):
    """Base class of errors caused by input or configuration, not by a bug in csgene."""


class InputError(CsgeneError, ValueError):
    """Bad data or arguments: wrong shape, dtype, NaN/inf, negative counts, unknown names."""


class InputTypeError(InputError, TypeError):
    """Input of a type that cannot be data at all (e.g. an array holding dicts or strings)."""


class DataFormatError(CsgeneError, ValueError):
    """A file could not be read as any layout csgene knows (the message lists what was found)."""


class ModelFileError(CsgeneError, ValueError):
    """A saved model file is corrupt, or was written by an incompatible csgene version."""


class MissingDependencyError(CsgeneError, ImportError):
    """An optional extra is needed for this feature; the message names the ``pip install``."""


class DeviceUnavailableError(InputError, RuntimeError):
    """``device='cuda'`` was asked for, but no usable GPU (or driver, or CUDA build of torch) is here."""
