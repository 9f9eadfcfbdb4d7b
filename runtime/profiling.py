"""``ek.profile``: the one profiling path — a model file or loaded Model, here or on a device.

``Model.benchmark``, ``Device.profile`` (through the on-device agent, which calls ``Model.benchmark``)
and ``edgekit.devices.profile_many`` all end in :func:`profile`, so the settings are validated once and
mean the same everywhere. Numpy only (the agent bundles this module).

>>> ProfileConfig(runs=5, warmup=0).to_dict()["runs"]
5
>>> ProfileConfig(threads=0)
Traceback (most recent call last):
...
edgekit.errors.RuntimeSettingError: threads must be a positive integer or None (the runtime's default), got 0
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgekit.config import VerbConfig
from edgekit.errors import RuntimeSettingError
from edgekit.runtime.profile import Profile
from edgekit.runtime.settings import check_delegate, check_runs, check_threads

Progress = Callable[[int, int], None]

BACKENDS = ("auto", "litert", "onnxruntime")


@dataclass(frozen=True)
class ProfileConfig(VerbConfig):
    """How to profile: ``runs`` timed inferences after ``warmup`` untimed ones, on ``backend`` with
    ``delegate`` and ``threads`` (None: the runtime's default). ``op_profile``: per-op times where the
    backend gives them (ONNX Runtime). ``affinity``: CPUs to pin to on a device (``"4-7"``), as
    ``taskset`` does; a local profile with affinity runs through the local device agent.
    """

    runs: int = 100
    warmup: int = 10
    threads: int | None = None
    delegate: str = "auto"
    backend: str = "auto"
    op_profile: bool = True
    affinity: str | None = None

    def __post_init__(self) -> None:
        check_runs(self.runs, self.warmup)
        check_threads(self.threads)
        object.__setattr__(self, "delegate", check_delegate(self.delegate))
        if self.backend not in BACKENDS:
            raise RuntimeSettingError(f"backend must be one of {', '.join(BACKENDS)}, got {self.backend!r}")
        if self.affinity is not None and not isinstance(self.affinity, str):
            object.__setattr__(self, "affinity", ",".join(str(c) for c in self.affinity))


def _local(model: Any, config: ProfileConfig, progress: Progress | None) -> Profile:
    from edgekit.runtime.benchmark import benchmark
    from edgekit.runtime.model import Model

    if isinstance(model, Model):
        same = (
            (config.threads is None or config.threads == model.threads)
            and config.delegate in ("auto", model.delegate)
            and config.backend in ("auto", model.backend)
        )
        if not same:
            model = Model.load(
                model.path,
                backend=model.backend if config.backend == "auto" else config.backend,
                delegate=model.delegate if config.delegate == "auto" else config.delegate,
                threads=config.threads if config.threads is not None else model.threads,
            )
    else:
        model = Model.load(model, backend=config.backend, delegate=config.delegate, threads=config.threads)
    return benchmark(
        model, runs=config.runs, warmup=config.warmup, op_profile=config.op_profile, progress=progress
    )


def profile(
    model: str | os.PathLike[str] | Any,
    device: str | Any = "local",
    config: ProfileConfig | None = None,
    *,
    progress: Progress | None = None,
    connect_options: dict[str, Any] | None = None,
) -> Profile:
    """Measure latency, load time and memory of ``model`` (a .tflite / .onnx path, a loaded
    :class:`~edgekit.runtime.Model`, or an ``ek.export`` result) on ``device``.

    ``device``: ``"local"`` (this process), a URI (``"ssh://user@host"``, ``"adb://SERIAL"``; the file is
    pushed and run by the on-device agent) or a connected ``edgekit.devices.Device``. ``connect_options``
    go to ``edgekit.devices.connect`` (``key``, ``known_hosts``, ...). ``progress(done, total)`` is
    called after each timed local run.

    >>> import edgekit as ek                                                        # doctest: +SKIP
    >>> ek.profile("m.tflite", config=ek.ProfileConfig(runs=50, threads=1)).p50_ms  # doctest: +SKIP
    0.41
    """
    config = config if config is not None else ProfileConfig()
    if not isinstance(config, ProfileConfig):
        raise RuntimeSettingError(f"config must be an ek.ProfileConfig, got {type(config).__name__}")
    path = getattr(model, "path", model)  # a Model or an ExportResult carries its file
    if device in (None, "local") and config.affinity is None:
        return _local(model if hasattr(model, "_backend") else path, config, progress)
    if isinstance(device, str | None):
        from edgekit.devices import connect

        with connect(device or "local", **(connect_options or {})) as connected:
            return connected.profile(Path(path), config=config)
    return device.profile(Path(path), config=config)
