"""``profile``: latency of every exported file on each device (``local``, ``ssh://...``, ``adb://...``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from edgekit.errors import StepError
from edgekit.recipes.records import StageRecord
from edgekit.recipes.stages.base import Context, Needs, Step


class ProfileStep(Step):
    step: Literal["profile"]
    devices: list[str] = Field(["local"])
    runs: int = Field(100, ge=1)
    warmup: int = Field(10, ge=0)
    threads: int | None = Field(None, ge=1)
    key: Path | None = None
    known_hosts: Path | None = None

    after = ("export",)
    needs = Needs.FILES

    def _measure(self, ctx: Context, device: str, path: Path, label: str) -> Any:
        from edgekit.runtime import Model

        if device == "local":
            return Model.load(path, threads=self.threads).benchmark(
                runs=self.runs,
                warmup=self.warmup,
                progress=lambda done, total: ctx.progress(f"profile {label}", done, total),
            )
        from edgekit.devices import connect

        with connect(device, key=self.key, known_hosts=self.known_hosts) as remote:
            return remote.profile(path, threads=self.threads, runs=self.runs, warmup=self.warmup)

    def run(self, ctx: Context, record: StageRecord) -> None:
        errors = []
        for device in self.devices:
            for fmt, path in ctx.artifact.files.items():
                label = f"{fmt}@{device}"
                ctx.progress(f"profile {label}", 0, self.runs)
                try:
                    record.latency[label] = self._measure(ctx, device, path, label).to_dict()
                except Exception as exc:  # a device failing must not lose the other measurements
                    errors.append(f"{label}: {type(exc).__name__}: {exc}")
                    record.latency[label] = {"error": str(exc)}
        record.files = {k: str(v) for k, v in ctx.artifact.files.items()}
        if errors:
            raise StepError("; ".join(errors))
