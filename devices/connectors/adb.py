"""adb transport: the ``adb`` program (Debian package ``adb``) with push / shell, argument lists only."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from edgekit.devices.connectors.base import Transport, quote
from edgekit.devices.uri import DeviceURI
from edgekit.errors import DeviceConnectionError, DeviceError


class ADBTransport(Transport):
    def __init__(self, uri: DeviceURI, *, python: str = "python3", connect_timeout: float = 10.0) -> None:
        self.uri = str(uri)
        self.serial = uri.host
        self.python = python
        adb = shutil.which("adb")
        if adb is None:
            raise DeviceConnectionError(
                "adb is not installed: apt-get install adb (or the Android platform-tools)"
            )
        self.adb: str = adb
        try:
            listing = subprocess.run(
                [self.adb, "devices"], capture_output=True, text=True, timeout=connect_timeout
            )
        except subprocess.TimeoutExpired as exc:
            raise DeviceConnectionError(f"`adb devices` did not answer within {connect_timeout:g} s") from exc
        serials = [
            ln.split()[0]
            for ln in listing.stdout.splitlines()[1:]
            if ln.strip() and ln.split()[-1] == "device"
        ]
        if self.serial not in serials:
            raise DeviceConnectionError(
                f"no adb device {self.serial!r} is connected (adb devices: {', '.join(serials) or 'none'})"
            )

    def run(self, argv: list[str], timeout: float) -> tuple[int, str, str]:
        try:
            done = subprocess.run(
                [self.adb, "-s", self.serial, "shell", quote(argv)],
                capture_output=True,
                text=True,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired as exc:
            raise DeviceError(f"{self.uri}: `{argv[0]}` did not finish within {timeout:g} s") from exc
        return done.returncode, done.stdout, done.stderr

    def put(self, local: Path, remote: str) -> None:
        done = subprocess.run(
            [self.adb, "-s", self.serial, "push", str(local), remote],
            capture_output=True,
            text=True,
            timeout=600,
        )
        if done.returncode != 0:
            raise DeviceError(f"{self.uri}: adb push {local.name} failed: {done.stderr.strip()}")
