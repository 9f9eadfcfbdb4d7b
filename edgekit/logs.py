"""The one switch for third-party log noise: quiet by default, everything with ``EDGEKIT_LOG=debug``.

TensorFlow, absl, oneDNN, the CUDA probe, LiteRT and torchao print INFO lines and warnings that users read
as errors ("Could not find cuda drivers", "oneDNN custom operations are on", ...). The ``edgekit`` CLI,
:func:`edgekit.run` and edgekit's own TensorFlow import call :func:`quiet_third_party` before those
libraries load. It is the only place where edgekit changes ``os.environ``, and only with ``setdefault``
(a value the user set wins). ``EDGEKIT_LOG=debug`` (or ``edgekit --debug``) keeps every line.

>>> import os
>>> os.environ["EDGEKIT_LOG"] = "debug"
>>> quiet_third_party()
False
>>> del os.environ["EDGEKIT_LOG"]
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import threading
from collections.abc import Iterator

ENV = "EDGEKIT_LOG"
"""``EDGEKIT_LOG=debug`` keeps third-party logs and turns on edgekit's debug logs in the CLI."""

# Environment read by the libraries when they load: TensorFlow's C++ logs below FATAL (its GPU probe logs
# "failed call to cuInit" as an ERROR on every machine without a GPU).
_ENVIRONMENT = {"TF_CPP_MIN_LOG_LEVEL": "3"}

# Python loggers of third-party libraries -> the start of messages known to be harmless.
_HARMLESS_RECORDS = {
    # torchao registers its enums as pytree constants; torch 2.14 says that is deprecated on every import.
    "torch.utils._pytree": ("%s is an Enum subclass and is now natively supported",),
}

# Lines that native code (absl, TensorFlow's static initializers, LiteRT) writes straight to file
# descriptor 2 while loading, before any setting can reach it. Only the CLI filters them (see
# filtered_native_stderr); a library must not take over its host's stderr.
HARMLESS_NATIVE_LINES = re.compile(
    r"WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|[IW]\d{4} [\d:. ]+\d+ port\.cc:\d+\] oneDNN custom operations are on"
    r"|[IW]\d{4} [\d:. ]+\d+ cudart_stub\.cc:\d+\] Could not find cuda drivers"
    r"|[EIW]\d{4} [\d:. ]+\d+ cuda_(platform|executor|diagnostics)\.cc:\d+\]"
    r"|INFO: Created TensorFlow Lite XNNPACK delegate for CPU\."
)


_debug = False  # set by quiet_third_party(debug=True): later calls (edgekit's TensorFlow import) keep logs


def debug_requested() -> bool:
    """True when ``EDGEKIT_LOG=debug`` or the CLI's ``--debug`` asked for every log."""
    return _debug or os.environ.get(ENV, "").strip().lower() == "debug"


class _DropHarmless(logging.Filter):
    def __init__(self, prefixes: tuple[str, ...]) -> None:
        super().__init__()
        self.prefixes = prefixes

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self.prefixes)


def quiet_third_party(*, debug: bool = False) -> bool:
    """Silence known-harmless third-party logs unless ``debug`` or ``EDGEKIT_LOG=debug``.

    Sets the environment variables in ``_ENVIRONMENT`` (``setdefault``) and filters the specific
    harmless records of third-party Python loggers. Call it before TensorFlow loads; calling it again
    is harmless; after ``debug=True`` it silences nothing for the rest of the process. Returns True
    when it silenced.
    """
    global _debug
    _debug = _debug or debug
    if debug_requested():
        return False
    for name, value in _ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    for logger_name, prefixes in _HARMLESS_RECORDS.items():
        logger = logging.getLogger(logger_name)
        if not any(isinstance(f, _DropHarmless) for f in logger.filters):
            logger.addFilter(_DropHarmless(prefixes))
    return True


@contextlib.contextmanager
def filtered_native_stderr(enabled: bool = True) -> Iterator[None]:
    """Within the block, drop the :data:`HARMLESS_NATIVE_LINES` that native code writes to fd 2.

    Python's ``sys.stderr`` keeps writing to the terminal directly (progress bars, logs, tracebacks);
    file descriptor 2 becomes a pipe whose lines a thread forwards unless they are known harmless.
    For the CLI process only; it does nothing when ``sys.stderr`` was already replaced (a test harness,
    a notebook).
    """
    python_stderr = sys.__stderr__
    if not enabled or python_stderr is None or sys.stderr is not python_stderr:
        yield
        return
    python_stderr.flush()
    terminal = os.dup(2)
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)
    sys.stderr = open(  # noqa: SIM115 - closed in finally
        os.dup(terminal), "w", encoding=python_stderr.encoding, errors="backslashreplace", buffering=1
    )

    def forward() -> None:
        pending = b""
        with open(read_end, "rb", buffering=0) as pipe:
            while chunk := pipe.read(65536):
                pending += chunk
                *lines, pending = pending.split(b"\n")
                kept = [
                    line for line in lines if not HARMLESS_NATIVE_LINES.match(line.decode("utf-8", "replace"))
                ]
                if kept:
                    os.write(terminal, b"\n".join(kept) + b"\n")
        if pending and not HARMLESS_NATIVE_LINES.match(pending.decode("utf-8", "replace")):
            os.write(terminal, pending)

    thread = threading.Thread(target=forward, name="edgekit-stderr", daemon=True)
    thread.start()
    try:
        yield
    finally:
        sys.stderr.flush()
        sys.stderr.close()
        sys.stderr = python_stderr
        os.dup2(terminal, 2)  # closes the pipe's last write end: the thread sees EOF
        thread.join(timeout=5)
        os.close(terminal)
