"""Profile models on devices: this machine, boards over SSH, phones over adb.

>>> from edgekit.devices import specs
>>> specs()["raspberry-pi-4"].cpu
'Cortex-A72'
"""

from __future__ import annotations

import os
from typing import Any

from edgekit.devices.connectors.base import Device, DeviceInfo
from edgekit.devices.fleet import FleetResult, profile_many
from edgekit.devices.spec import DeviceSpec, specs
from edgekit.devices.uri import DeviceURI, parse_uri

__all__ = [
    "Device",
    "DeviceInfo",
    "DeviceSpec",
    "DeviceURI",
    "FleetResult",
    "connect",
    "parse_uri",
    "profile_many",
    "specs",
]


def connect(
    uri: str,
    *,
    key: str | os.PathLike[str] | None = None,
    known_hosts: str | os.PathLike[str] | None = None,
    trust_on_first_use: bool = False,
    connect_timeout: float = 10.0,
    command_timeout: float = 600.0,
    python: str | None = None,
) -> Device:
    """A :class:`Device` for ``"local"``, ``"ssh://user@host[:port]"`` or ``"adb://SERIAL"``.

    SSH checks the host key against ``known_hosts`` (default ``~/.ssh/known_hosts``) and refuses unknown
    keys unless ``trust_on_first_use``; ``python`` is the interpreter the agent runs with on the device.
    """
    parsed = parse_uri(uri)
    transport: Any
    if parsed.scheme == "local":
        from edgekit.devices.connectors.local import LocalTransport

        transport = LocalTransport(python)
    elif parsed.scheme == "ssh":
        from edgekit.devices.connectors.ssh import SSHTransport

        transport = SSHTransport(
            parsed,
            key=key,
            known_hosts=known_hosts,
            trust_on_first_use=trust_on_first_use,
            connect_timeout=connect_timeout,
            python=python or "python3",
        )
    else:
        from edgekit.devices.connectors.adb import ADBTransport

        transport = ADBTransport(parsed, python=python or "python3", connect_timeout=connect_timeout)
    return Device(transport, command_timeout=command_timeout)
