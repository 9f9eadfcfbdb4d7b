"""``SearchConfig``: where and how long a compression search runs, what it optimizes, what it must meet."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from edgekit.errors import SearchSpaceError

# objective -> (direction, record key)
OBJECTIVES: dict[str, tuple[str, str]] = {
    "accuracy": ("maximize", "accuracy"),
    "latency_ms": ("minimize", "p50_ms"),
    "p90_ms": ("minimize", "p90_ms"),
    "size_bytes": ("minimize", "size_bytes"),
    "peak_memory_mb": ("minimize", "peak_memory_mb"),
}
SAMPLERS: tuple[str, ...] = ("tpe", "nsga2", "random")


@dataclass(frozen=True)
class SearchConfig:
    """How a search runs.

    * ``target``: ``"local"`` or a device URI (``ssh://user@host:port``, ``adb://SERIAL``) that profiles
      every trial's .tflite file; ``key`` / ``known_hosts`` are passed to ``edgekit.devices.connect``.
    * ``objectives``: names from :data:`OBJECTIVES` (accuracy is maximized, the others minimized).
    * ``budget``: trials in the study (a resumed study counts the trials already finished).
    * ``storage``: ``None`` = an SQLite file ``study.db`` in the output folder; or an Optuna RDB URL such as
      ``postgresql://user@host:5432/db`` shared by several workers.
    * ``study``: the study name; ``sampler``: ``"tpe"`` (Bayesian, multi-objective), ``"nsga2"`` (genetic)
      or ``"random"``; ``seed`` seeds the sampler and training.
    * ``min_accuracy``: pick the fastest model with accuracy >= this; ``max_latency_ms``: pick the most
      accurate model with p50 latency <= this on the target.
    * ``runs`` / ``warmup`` / ``threads``: profiling settings on the target; ``python``: the interpreter the
      device agent runs with (default: the connector's).
    * ``resume``: continue an existing study (without it, an existing study is an error).

    >>> SearchConfig.from_dict({"budget": 30, "min_accuracy": 0.95}).budget
    30
    """

    target: str = "local"
    objectives: tuple[str, ...] = ("accuracy", "latency_ms")
    budget: int = 20
    storage: str | None = None
    study: str = "edgekit-search"
    sampler: str = "tpe"
    seed: int = 0
    min_accuracy: float | None = None
    max_latency_ms: float | None = None
    runs: int = 100
    warmup: int = 10
    threads: int | None = 1
    key: str | None = None
    known_hosts: str | None = None
    python: str | None = None
    resume: bool = False

    def __post_init__(self) -> None:
        self.validate()

    def validate(self, *, source: str | None = None, lines: Mapping[str, int] | None = None) -> None:
        def fail(key: str, problem: str, fix: str) -> SearchSpaceError:
            line = (lines or {}).get(key)
            where = f"{source}:{line}: " if source and line else (f"{source}: " if source else "")
            return SearchSpaceError(f"{where}{key}: {problem}; {fix}")

        if isinstance(self.objectives, str):
            object.__setattr__(self, "objectives", (self.objectives,))
        object.__setattr__(self, "objectives", tuple(self.objectives))
        unknown = [o for o in self.objectives if o not in OBJECTIVES]
        if unknown or not self.objectives or len(set(self.objectives)) != len(self.objectives):
            raise fail(
                "objectives",
                f"invalid {list(self.objectives)}",
                f"choose distinct names from {', '.join(OBJECTIVES)}",
            )
        if not isinstance(self.budget, int) or isinstance(self.budget, bool) or self.budget < 1:
            raise fail("budget", f"{self.budget!r} is not a positive number of trials", "write e.g. 30")
        if self.sampler not in SAMPLERS:
            raise fail("sampler", f"unknown sampler {self.sampler!r}", f"choose one of {', '.join(SAMPLERS)}")
        if self.min_accuracy is not None and not 0.0 <= self.min_accuracy <= 1.0:
            raise fail("min_accuracy", f"{self.min_accuracy} is not in [0, 1]", "write e.g. 0.95 for 95%")
        if self.max_latency_ms is not None and not self.max_latency_ms > 0:
            raise fail("max_latency_ms", f"{self.max_latency_ms} is not > 0", "write a latency in ms, e.g. 5")
        for key in ("runs", "warmup"):
            value = getattr(self, key)
            if not isinstance(value, int) or value < (1 if key == "runs" else 0):
                raise fail(key, f"{value!r} is not a valid count", "write e.g. 100")
        if self.storage is not None and not self.storage.startswith(("sqlite:///", "postgresql")):
            raise fail(
                "storage",
                f"unsupported storage {self.storage!r}",
                "use sqlite:///file.db or postgresql://...",
            )

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], *, source: str | None = None, lines: Mapping[str, int] | None = None
    ) -> SearchConfig:
        """Validate a mapping (e.g. from YAML); errors name ``source:line`` when ``lines`` are given."""
        known = {f.name for f in fields(cls)}
        for key in data:
            if key not in known:
                line = (lines or {}).get(str(key))
                where = f"{source}:{line}: " if source and line else (f"{source}: " if source else "")
                raise SearchSpaceError(f"{where}{key}: unknown key; use one of {', '.join(sorted(known))}")
        values = dict(data)
        if "objectives" in values and isinstance(values["objectives"], list):
            values["objectives"] = tuple(values["objectives"])
        try:
            config = cls.__new__(cls)
            for f in fields(cls):
                object.__setattr__(config, f.name, values.get(f.name, f.default))
            config.validate(source=source, lines=lines)
        except TypeError as exc:
            raise SearchSpaceError(f"{source or 'search config'}: {exc}") from exc
        return config

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def directions(self) -> list[str]:
        return [OBJECTIVES[o][0] for o in self.objectives]
