"""What a run reports: one :class:`StageRecord` per step, gathered in a :class:`RunSummary`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class StageRecord:
    """One row of the report: what a step produced and measured."""

    step: str
    name: str
    accuracy: float | None = None
    params: int | None = None
    macs: int | None = None
    size_bytes: int | None = None
    seconds: float = 0.0
    files: dict[str, str] = field(default_factory=dict)
    parity: dict[str, Any] = field(default_factory=dict)
    latency: dict[str, dict[str, Any]] = field(default_factory=dict)
    layers: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what a step passed with a caveat (e.g. parity)
    error: str | None = None
    cached: bool = False


@dataclass
class RunSummary:
    """The result of ``ek.run``: one record per step, the output folder and whether every step succeeded."""

    recipe: str
    out: Path
    stages: list[StageRecord]
    seconds: float

    @property
    def ok(self) -> bool:
        return all(s.error is None for s in self.stages)

    @property
    def failed_steps(self) -> list[str]:
        return [s.name for s in self.stages if s.error]

    def to_dict(self) -> dict[str, Any]:
        return {
            "recipe": self.recipe,
            "out": str(self.out),
            "ok": self.ok,
            "seconds": self.seconds,
            "failed_steps": self.failed_steps,
            "stages": [asdict(s) for s in self.stages],
        }
