"""Profile one model on many devices at once; one failing device does not lose the others."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from edgekit.runtime import Profile, ProfileConfig


@dataclass
class FleetResult:
    uri: str
    profile: Profile | None
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
    config: ProfileConfig | None = None,
    **profile_kwargs: Any,
) -> list[FleetResult]:
    """Profile ``model_path`` on every device of ``uris`` concurrently; results in the order of ``uris``.

    Each device runs ``ek.profile(model_path, device, config)`` on a connected device (the agent for "local"); ``profile_kwargs`` (``runs``,
    ``warmup``, ``threads``, ``delegate``, ``affinity``) build the config when none is given.
    """
    from edgekit.devices import connect
    from edgekit.runtime import ProfileConfig, profile

    config = config if config is not None else ProfileConfig(**profile_kwargs)

    def one(uri: str) -> FleetResult:
        try:
            with connect(uri, **(connect_options or {})) as device:  # "local" too: the agent, as elsewhere
                return FleetResult(uri, profile(model_path, device, config), None)
        except Exception as exc:  # each device's failure is its own result
            return FleetResult(uri, None, f"{type(exc).__name__}: {exc}")

    with ThreadPoolExecutor(max_workers=max_workers or max(len(uris), 1)) as pool:
        return list(pool.map(one, uris))
