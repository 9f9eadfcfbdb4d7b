"""Profile one model on many devices at once; one failing device does not lose the others."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any


@dataclass
class FleetResult:
    uri: str
    profile: Any | None
    error: str | None

    @property
    def ok(self) -> bool:
        return self.error is None


def profile_many(
    model_path: str | os.PathLike[str],
    uris: list[str],
    *,
    max_workers: int | None = None,
    connect_options: dict[str, Any] | None = None,
    **profile_kwargs: Any,
) -> list[FleetResult]:
    """Profile ``model_path`` on every device of ``uris`` concurrently; results in the order of ``uris``."""
    from edgekit.devices import connect

    def one(uri: str) -> FleetResult:
        try:
            with connect(uri, **(connect_options or {})) as device:
                return FleetResult(uri, device.profile(model_path, **profile_kwargs), None)
        except Exception as exc:  # each device's failure is its own result
            return FleetResult(uri, None, f"{type(exc).__name__}: {exc}")

    with ThreadPoolExecutor(max_workers=max_workers or max(len(uris), 1)) as pool:
        return list(pool.map(one, uris))
