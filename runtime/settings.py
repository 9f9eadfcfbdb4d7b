"""Validation of the runtime settings every profiling path shares (threads, delegate, runs, warm-up).

One place, so ``Model.load``, ``ek.profile``, ``Device.profile`` and the CLI reject the same values with
the same message. Standard library only: the on-device agent bundles this module.

>>> check_threads(2)
2
>>> check_threads(0)
Traceback (most recent call last):
...
edgekit.errors.RuntimeSettingError: threads must be a positive integer or None (the runtime's default), got 0
"""

from __future__ import annotations

from typing import Any

from edgekit.errors import RuntimeSettingError


def check_threads(threads: Any) -> int | None:
    """``threads`` if it is a positive int or None, else :class:`~edgekit.errors.RuntimeSettingError`."""
    if threads is not None and (not isinstance(threads, int) or isinstance(threads, bool) or threads <= 0):
        raise RuntimeSettingError(
            f"threads must be a positive integer or None (the runtime's default), got {threads!r}"
        )
    return threads


def check_delegate(delegate: Any) -> str:
    """The delegate name in lower case; a non-string or empty name is a RuntimeSettingError."""
    if not isinstance(delegate, str) or not delegate:
        raise RuntimeSettingError(
            f"delegate must be a name such as 'auto', 'cpu', 'xnnpack', 'gpu'; got {delegate!r}"
        )
    return delegate.lower()


def check_runs(runs: Any, warmup: Any) -> tuple[int, int]:
    """``(runs, warmup)`` when runs >= 1 and warmup >= 0 (both ints), else a RuntimeSettingError."""
    if not isinstance(runs, int) or isinstance(runs, bool) or runs < 1:
        raise RuntimeSettingError(f"runs must be a positive integer, got {runs!r}")
    if not isinstance(warmup, int) or isinstance(warmup, bool) or warmup < 0:
        raise RuntimeSettingError(f"warmup must be an integer >= 0, got {warmup!r}")
    return runs, warmup
