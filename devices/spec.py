"""Device specs: known targets as JSON data files shipped in ``edgekit/devices/specs/``."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from typing import Any


@dataclass(frozen=True)
class DeviceSpec:
    """What a kind of device is: architecture, cores, ISA features, memory, runtimes and delegates."""

    name: str
    description: str
    arch: str
    cores: int | None
    isa: tuple[str, ...]
    memory_gb: Any
    runtimes: tuple[str, ...]
    delegates: tuple[str, ...]
    cpu: str | None = None
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def specs() -> dict[str, DeviceSpec]:
    """All shipped device specs by name.

    >>> sorted(specs())[:2]
    ['aarch64-linux', 'android-phone']
    >>> specs()["raspberry-pi-5"].isa
    ('neon', 'dotprod', 'fp16')
    """
    out = {}
    for entry in sorted(resources.files("edgekit.devices").joinpath("specs").iterdir(), key=lambda p: p.name):
        if not entry.name.endswith(".json"):
            continue
        raw = json.loads(entry.read_text())
        known = {k: raw.pop(k) for k in list(raw) if k in DeviceSpec.__dataclass_fields__}
        spec = DeviceSpec(
            **{
                **known,
                "isa": tuple(known.get("isa", ())),
                "runtimes": tuple(known.get("runtimes", ())),
                "delegates": tuple(known.get("delegates", ())),
            },
            extra=raw,
        )
        out[spec.name] = spec
    return out
