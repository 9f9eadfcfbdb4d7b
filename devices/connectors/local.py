"""The machine edgekit runs on, as a device (same Profile, no transport)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from edgekit.devices.connectors.base import Transport


class LocalTransport(Transport):
    """Runs the agent with this Python in a subprocess, like a remote device would."""

    uri = "local"

    def __init__(self, python: str | None = None) -> None:
        self.python = python or sys.executable

    def run(self, argv: list[str], timeout: float) -> tuple[int, str, str]:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        return done.returncode, done.stdout, done.stderr

    def put(self, local: Path, remote: str) -> None:
        Path(remote).write_bytes(local.read_bytes())
