"""Run a recipe: the registered step classes in the recipe's order, passing one artifact, with a cache.

Re-running with nothing changed reuses every step (see :mod:`edgekit.recipes.cache`). When only steps
that need files (``Needs.FILES``: verify, profile) changed, they re-run from the files the cached steps
wrote; any other change re-runs the whole chain (the other steps hold models in memory). A failing step
is recorded; the run stops after it unless it only needed files (nothing later depends on it).
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np

from edgekit.fileio import write_text_atomic
from edgekit.recipes.cache import RunCache, step_keys
from edgekit.recipes.records import RunSummary, StageRecord
from edgekit.recipes.schema import Recipe
from edgekit.recipes.sources import load_data, load_model
from edgekit.recipes.stages import Artifact, Context, Needs, Progress

log = logging.getLogger(__name__)


class Runner:
    def __init__(
        self, recipe: Recipe, out: Path, *, force: bool = False, progress: Progress | None = None
    ) -> None:
        self.recipe = recipe
        self.out = out
        self.cache = RunCache(out, force=force)
        self.progress: Progress = progress or (lambda message, done, total: None)

    def run(self) -> RunSummary:
        import torch

        start = time.perf_counter()
        self.out.mkdir(parents=True, exist_ok=True)
        steps = self.recipe.steps
        keys = step_keys(self.recipe)
        cached = [self.cache.lookup(i, k) for i, k in enumerate(keys)]
        first_stale = next((i for i, c in enumerate(cached) if c is None), len(keys))
        files_only = all(s.needs is Needs.FILES for s in steps[first_stale:])
        resume = first_stale if files_only else 0
        torch.manual_seed(self.recipe.seed)
        np.random.seed(self.recipe.seed)
        data = load_data(self.recipe.data, self.recipe.seed)
        artifact = Artifact(model=None, data=data)
        if resume == 0:
            artifact.model = load_model(self.recipe.model, in_channels=data.x_train.shape[1])
            if isinstance(artifact.model, Path):
                artifact.files["onnx"] = artifact.model
        ctx = Context(self.recipe.name, self.recipe.seed, self.out, artifact, self.progress)
        stages: list[StageRecord] = []
        for index, (step, key, reused) in enumerate(zip(steps, keys, cached, strict=True)):
            log.debug(
                "step %d (%s): key %s, %s", index + 1, step.step, key, "reused" if index < resume else "runs"
            )
            if index < resume and reused is not None:
                step.restore(artifact, reused)
                stages.append(reused)
                self.progress(f"{step.step}: unchanged, reused", 1, 1)
                continue
            record = StageRecord(step=step.step, name=f"{index + 1}-{step.step}")
            self.progress(step.step, 0, 1)
            t0 = time.perf_counter()
            try:
                step.run(ctx, record)
            except Exception as exc:
                record.error = f"{type(exc).__name__}: {' '.join(str(exc).split())[:800]}"
                log.error("step %s failed: %s", record.name, record.error)
            record.seconds = time.perf_counter() - t0
            stages.append(record)
            if record.error is None:
                self.cache.store(index, key, record)
            elif step.needs is not Needs.FILES:
                break  # later steps need this one's artifact
            self.progress(f"{step.step}: done" if record.error is None else f"{step.step}: FAILED", 1, 1)
        summary = RunSummary(self.recipe.name, self.out, stages, time.perf_counter() - start)
        write_text_atomic(self.out / "summary.json", json.dumps(summary.to_dict(), indent=2, default=str))
        from edgekit.reports import write_report

        write_report(summary, self.out / "report.html")
        return summary
