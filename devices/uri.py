"""Device URIs: ``local``, ``ssh://user@host[:port]``, ``adb://SERIAL``."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from edgekit.errors import DeviceError

SCHEMES = ("local", "ssh", "adb")


@dataclass(frozen=True)
class DeviceURI:
    scheme: str
    host: str = ""
    user: str | None = None
    port: int | None = None

    def __str__(self) -> str:
        if self.scheme == "local":
            return "local"
        if self.scheme == "adb":
            return f"adb://{self.host}"
        user = f"{self.user}@" if self.user else ""
        port = f":{self.port}" if self.port else ""
        return f"ssh://{user}{self.host}{port}"


def parse_uri(uri: str) -> DeviceURI:
    """Parse and validate a device URI.

    >>> parse_uri("ssh://pi@raspberrypi.local:2222")
    DeviceURI(scheme='ssh', host='raspberrypi.local', user='pi', port=2222)
    """
    if not isinstance(uri, str) or not uri.strip():
        raise DeviceError("empty device URI; use local, ssh://user@host[:port] or adb://SERIAL")
    if uri == "local":
        return DeviceURI("local")
    parts = urlsplit(uri)
    if parts.scheme not in SCHEMES:
        raise DeviceError(
            f"unknown device scheme in {uri!r}; use local, ssh://user@host[:port] or adb://SERIAL"
        )
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise DeviceError(f"malformed device URI {uri!r}: no path, query or fragment is allowed")
    try:
        port = parts.port
    except ValueError as exc:
        raise DeviceError(f"malformed device URI {uri!r}: the port must be a number 1-65535") from exc
    if parts.scheme == "adb":
        if not parts.netloc or parts.username:
            raise DeviceError(f"malformed adb URI {uri!r}; expected adb://SERIAL (see `adb devices`)")
        return DeviceURI("adb", parts.netloc)
    host = parts.hostname
    if not host or any(c in host for c in " ;|&$`'\"\\"):
        raise DeviceError(f"malformed ssh URI {uri!r}; expected ssh://user@host[:port]")
    return DeviceURI("ssh", host, parts.username, port)
