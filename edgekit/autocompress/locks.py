"""One profiling run at a time per device: an exclusive ``fcntl`` file lock per device URI.

Concurrent trials (threads or worker processes sharing the study folder) that target the same board wait
for each other, so a latency is never measured while another trial loads the same device.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path


def lock_path(folder: str | os.PathLike[str], uri: str) -> Path:
    """The lock file of device ``uri`` inside ``folder`` (one file per URI, the name is a hash of it)."""
    return Path(folder) / "locks" / f"device-{hashlib.sha256(uri.encode()).hexdigest()[:16]}.lock"


@contextlib.contextmanager
def device_lock(folder: str | os.PathLike[str], uri: str) -> Iterator[Path]:
    """Hold the exclusive lock of device ``uri`` for the duration of the ``with`` block.

    >>> import tempfile
    >>> with device_lock(tempfile.mkdtemp(), "local") as path:
    ...     path.name.startswith("device-")
    True
    """
    path = lock_path(folder, uri)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield path
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
