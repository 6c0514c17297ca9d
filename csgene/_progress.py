"""Progress reports from long computations to whoever shows them (the command line's bars).

Library code calls :func:`report` at each step of a long loop; it costs one context-variable
look-up when nobody listens, prints nothing itself and never changes a result. A caller that
wants to show progress (``csgene fit`` draws tqdm bars) installs a listener with
:func:`listening` for the duration of a call.

>>> from csgene._progress import listening, report
>>> seen = []
>>> with listening(lambda task, done, total: seen.append((task, done, total))):
...     report("SMAF iterations", 1, 10)
>>> seen
[('SMAF iterations', 1, 10)]
"""

from __future__ import annotations

import contextvars
from contextlib import contextmanager
from typing import Callable, Iterator

__all__ = ["listening", "report"]

#: A listener: ``listener(task, done, total)``; ``task`` names the loop, ``done`` of ``total`` steps.
Listener = Callable[[str, int, int], None]

_LISTENER: contextvars.ContextVar[Listener | None] = contextvars.ContextVar("csgene_progress", default=None)


def report(task: str, done: int, total: int) -> None:
    """Tell the current listener, if any, that ``done`` of ``total`` steps of ``task`` are done."""
    listener = _LISTENER.get()
    if listener is not None:
        listener(task, int(done), int(total))


@contextmanager
def listening(listener: Listener) -> Iterator[None]:
    """Send :func:`report` calls made inside the ``with`` block to ``listener``."""
    token = _LISTENER.set(listener)
    try:
        yield
    finally:
        _LISTENER.reset(token)
