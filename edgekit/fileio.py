"""Atomic file writing: a file edgekit writes is either complete or not there (the old one stays)."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from edgekit.errors import OutputPathError


def prepare_output(path: str | os.PathLike[str]) -> Path:
    """Return ``path`` as a Path after creating its parent folder; raise OutputPathError if impossible."""
    out = Path(path)
    if out.is_dir():
        raise OutputPathError(f"{out} is a folder; give a file path such as {out / 'model.tflite'}")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputPathError(f"cannot create the folder {out.parent}: {exc.strerror}") from exc
    if not os.access(out.parent, os.W_OK):
        raise OutputPathError(f"the folder {out.parent} is not writable; choose another output path")
    return out


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it onto ``path``, on error delete it.

    The temporary name ends with the target's suffix, so tools that sniff suffixes can read it.

    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> with atomic_path(d / "a.txt") as tmp:
    ...     _ = tmp.write_text("hello")
    >>> (d / "a.txt").read_text()
    'hello'
    """
    out = prepare_output(path)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=f".partial{out.suffix}", dir=out.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, _file_mode())  # mkstemp makes 0600; a written model is an ordinary file
        os.replace(tmp, out)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _file_mode() -> int:
    """The mode ``open()`` would give a new file: 0o666 less the process umask."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically and return the path."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text_atomic(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically and return the path."""
    return write_bytes_atomic(path, text.encode("utf-8"))
