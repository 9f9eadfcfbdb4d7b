"""Stages of a long export / conversion, for whoever asked to hear about them.

Library code marks where a stage starts (``stage("translate")``); the previous stage ends there. Nothing
is printed: the Python API stays quiet (a DEBUG log line per stage) unless a caller listens with
:func:`on_stage`, as the CLI does to show each stage with its elapsed time.

>>> seen = []
>>> with on_stage(seen.append):
...     stage("trace")
...     stage("verify")
>>> seen
['trace', 'verify']
>>> stage("not heard")  # nobody listens: nothing happens
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

log = logging.getLogger(__name__)

_listener: ContextVar[Callable[[str], None] | None] = ContextVar("edgekit_stage_listener", default=None)


def stage(name: str) -> None:
    """Mark the start of stage ``name`` (the previous one ends here)."""
    log.debug("stage: %s", name)
    listener = _listener.get()
    if listener is not None:
        listener(name)


@contextmanager
def on_stage(callback: Callable[[str], None]) -> Iterator[None]:
    """Call ``callback(name)`` at every stage started inside the ``with`` block."""
    token = _listener.set(callback)
    try:
        yield
    finally:
        _listener.reset(token)
