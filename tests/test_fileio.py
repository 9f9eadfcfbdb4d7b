"""Atomic writes: complete or absent, and with the permissions of an ordinary new file."""

from __future__ import annotations

import os
import stat

import pytest

from edgekit.fileio import atomic_path, write_bytes_atomic


def test_written_file_has_the_umask_mode_not_mkstemps_0600(tmp_path):
    old = os.umask(0o022)
    try:
        path = write_bytes_atomic(tmp_path / "m.tflite", b"data")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_a_failed_write_leaves_no_file(tmp_path):
    target = tmp_path / "m.onnx"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []
