"""One way to write every output file: whole or not at all, with the user's permissions.

:func:`atomic_path` hands out a temporary name in the destination's folder; when the block
ends without error the file is flushed to disk, given the permissions a plain ``open`` would
give (``0o666 & ~umask``; :func:`tempfile.mkstemp` alone leaves 0600) and moved into place
with :func:`os.replace`. On error the temporary file is removed and the destination is left
as it was.
"""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

from .exceptions import InputError

__all__ = ["atomic_path", "atomic_open", "current_umask"]


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(path, suffix: str | None = None):
    """Yield a temporary path next to ``path``; move it onto ``path`` when the block succeeds.

    ``suffix`` (default: the destination's endings, e.g. ``.csv.gz``) keeps writers that pick
    their format from the file name happy.
    """
    path = Path(os.fspath(path))
    if not (path.parent if str(path.parent) else Path(".")).is_dir():
        raise InputError(f"cannot write {str(path)!r}: folder {str(path.parent)!r} does not exist; create it first.")
    if path.is_dir():
        raise InputError(f"cannot write {str(path)!r}: it is a folder; give a file name (e.g. {str(path / 'out')!r}).")
    suffix = "".join(path.suffixes) if suffix is None else suffix
    fd, tmp = tempfile.mkstemp(dir=path.parent if str(path.parent) else ".", prefix=f".{path.name}.",
                               suffix=suffix)
    os.close(fd)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:  # writers that close without fsync: make the bytes durable
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~current_umask())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


@contextmanager
def atomic_open(path, mode: str = "w", **kwargs):
    """``open(path, mode)`` for writing, atomically (see :func:`atomic_path`)."""
    with atomic_path(path) as tmp, open(tmp, mode, **kwargs) as fh:
        yield fh
