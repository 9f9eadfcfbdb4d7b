"""Run a recipe: explicit named stages passing one artifact, with a content-hash cache.

Caching: every step has a key (hash of the model/data sources, the seed, its own and all earlier step
configs, and the content of the files it reads). Re-running with nothing changed reuses every step. When
only verify/profile steps changed, they re-run from the exported files; any other change re-runs the
whole chain (compression steps hold models in memory). Artifacts are written atomically and a step's
cache record is written after it finished, so an interrupted run never leaves a file a later run trusts.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.errors import RecipeError, StepError
from edgekit.fileio import write_text_atomic
from edgekit.recipes.schema import (
    ExportStep,
    ProfileStep,
    PruneStep,
    QuantizeStep,
    Recipe,
    TrainStep,
    VerifyStep,
)
from edgekit.recipes.sources import file_sha256, load_data, load_model

log = logging.getLogger(__name__)
CACHE = ".edgekit-cache.json"
Progress = Callable[[str, int, int], None]
"""progress(message, done, total)"""


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


@dataclass
class Artifact:
    """What flows from step to step."""

    model: Any
    data: Any
    teacher: Any = None
    quantized: bool = False
    files: dict[str, Path] = field(default_factory=dict)


def _hash(*parts: Any) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(json.dumps(part, sort_keys=True, default=str).encode())
    return h.hexdigest()[:16]


def _count(model: Any, example: Any) -> tuple[int, int]:
    import torch_pruning as tp

    macs, params = tp.utils.count_ops_and_params(model, example)
    return int(macs), int(params)


class Runner:
    def __init__(
        self, recipe: Recipe, out: Path, *, force: bool = False, progress: Progress | None = None
    ) -> None:
        self.recipe = recipe
        self.out = out
        self.force = force
        self.progress = progress or (lambda message, done, total: None)
        self.cache_path = out / CACHE
        self.cache: dict[str, Any] = {}
        if self.cache_path.exists() and not force:
            try:
                self.cache = json.loads(self.cache_path.read_text())
            except ValueError:
                self.cache = {}

    # --- keys and cache ----------------------------------------------------------------------------
    def _keys(self) -> list[str]:
        base = [
            self.recipe.model.model_dump(mode="json"),
            self.recipe.data.model_dump(mode="json"),
            self.recipe.seed,
        ]
        for path in (self.recipe.model.onnx, self.recipe.model.state_dict, self.recipe.data.npz):
            if path is not None and Path(path).is_file():
                base.append(file_sha256(Path(path)))
        keys, chain = [], _hash(*base)
        for step in self.recipe.steps:
            chain = _hash(chain, step.model_dump(mode="json"))
            keys.append(chain)
        return keys

    def _cached(self, index: int, key: str) -> StageRecord | None:
        entry = self.cache.get(str(index))
        if not entry or entry.get("key") != key:
            return None
        for path, digest in entry.get("hashes", {}).items():
            if not Path(path).is_file() or file_sha256(Path(path)) != digest:
                return None
        record = StageRecord(**entry["record"])
        record.cached = True
        return record

    def _store(self, index: int, key: str, record: StageRecord) -> None:
        hashes = {path: file_sha256(Path(path)) for path in record.files.values() if Path(path).is_file()}
        self.cache[str(index)] = {"key": key, "record": asdict(record), "hashes": hashes}
        write_text_atomic(self.cache_path, json.dumps(self.cache, indent=1))

    # --- running -----------------------------------------------------------------------------------
    def run(self) -> RunSummary:
        import torch

        start = time.perf_counter()
        self.out.mkdir(parents=True, exist_ok=True)
        keys = self._keys()
        cached = [self._cached(i, k) for i, k in enumerate(keys)]
        first_stale = next((i for i, c in enumerate(cached) if c is None), len(keys))
        file_only = all(s.step in ("verify", "profile") for s in self.recipe.steps[first_stale:])
        resume = first_stale if file_only else 0
        torch.manual_seed(self.recipe.seed)
        np.random.seed(self.recipe.seed)
        data = load_data(self.recipe.data, self.recipe.seed)
        artifact = Artifact(model=None, data=data)
        if resume == 0:
            artifact.model = load_model(self.recipe.model, in_channels=data.x_train.shape[1])
            if isinstance(artifact.model, Path):
                artifact.files["onnx"] = artifact.model
        stages: list[StageRecord] = []
        for index, (step, key) in enumerate(zip(self.recipe.steps, keys, strict=True)):
            if index < resume:
                record = cached[index]
                artifact.files.update({k: Path(v) for k, v in record.files.items()})
                stages.append(record)
                self.progress(f"{step.step}: unchanged, reused", 1, 1)
                continue
            name = f"{index + 1}-{step.step}"
            self.progress(f"{step.step}", 0, 1)
            t0 = time.perf_counter()
            record = StageRecord(step=step.step, name=name)
            try:
                getattr(self, f"_{step.step}")(step, artifact, record)
            except Exception as exc:
                record.error = f"{type(exc).__name__}: {' '.join(str(exc).split())[:800]}"
                log.error("step %s failed: %s", name, record.error)
            record.seconds = time.perf_counter() - t0
            stages.append(record)
            if record.error is None:
                self._store(index, key, record)
            elif step.step not in ("profile", "verify"):
                break  # later steps need this one's artifact
            self.progress(f"{step.step}: done" if record.error is None else f"{step.step}: FAILED", 1, 1)
        summary = RunSummary(self.recipe.name, self.out, stages, time.perf_counter() - start)
        write_text_atomic(self.out / "summary.json", json.dumps(summary.to_dict(), indent=2, default=str))
        from edgekit.reports import write_report

        write_report(summary, self.out / "report.html")
        return summary

    # --- steps ---------------------------------------------------------------------------------------
    def _example(self, artifact: Artifact) -> Any:
        import torch

        return torch.from_numpy(artifact.data.x_train[:1])

    def _describe(self, artifact: Artifact, record: StageRecord) -> None:
        from edgekit.demo import accuracy

        record.accuracy = accuracy(artifact.model, artifact.data.x_test, artifact.data.y_test)
        if not artifact.quantized:
            record.macs, record.params = _count(artifact.model, self._example(artifact))

    def _fit(
        self, model: Any, artifact: Artifact, label: str, *, epochs: int, lr: float, **kwargs: Any
    ) -> None:
        """Train ``model`` on the artifact's training split, reporting each epoch as progress."""
        from edgekit.demo import train

        d = artifact.data

        def on_epoch(epoch: int, loss: float) -> None:
            self.progress(f"{label} epoch {epoch + 1}/{epochs} loss {loss:.3f}", epoch + 1, epochs)

        train(
            model,
            d.x_train,
            d.y_train,
            epochs=epochs,
            lr=lr,
            seed=self.recipe.seed,
            on_epoch=on_epoch,
            **kwargs,
        )

    def _train(self, step: TrainStep, artifact: Artifact, record: StageRecord) -> None:
        self._fit(
            artifact.model, artifact, "train", epochs=step.epochs, lr=step.lr, batch_size=step.batch_size
        )
        self._describe(artifact, record)

    def _prune(self, step: PruneStep, artifact: Artifact, record: StageRecord) -> None:
        import edgekit as ek

        teacher = copy.deepcopy(artifact.model).eval()
        result = ek.prune(
            artifact.model,
            self._example(artifact),
            ratio=step.ratio,
            importance=step.importance,
            round_to=step.round_to,
        )
        record.layers = [asdict(layer) for layer in result.layers]
        if step.epochs:
            loss = ek.Distiller(teacher) if step.distill else None
            self._fit(artifact.model, artifact, "fine-tune", epochs=step.epochs, lr=step.lr, loss_fn=loss)
        artifact.teacher = teacher if step.distill else None
        self._describe(artifact, record)

    def _quantize(self, step: QuantizeStep, artifact: Artifact, record: StageRecord) -> None:
        import edgekit as ek

        d = artifact.data
        config = ek.QuantConfig(calibrator=step.calibrator)
        if step.mode == "ptq":
            artifact.model = ek.quantize(
                artifact.model,
                self._example(artifact),
                calibrate=d.calibration_batches(step.calibration_samples),
                config=config,
            )
        else:
            qat = ek.prepare_qat(artifact.model, self._example(artifact), config=config)
            loss = ek.Distiller(artifact.teacher) if artifact.teacher is not None else None
            if step.epochs:
                self._fit(qat, artifact, "QAT", epochs=step.epochs, lr=step.lr, loss_fn=loss)
            artifact.model = ek.finalize(qat)
        artifact.quantized = True
        self._describe(artifact, record)

    def _export(self, step: ExportStep, artifact: Artifact, record: StageRecord) -> None:
        import edgekit as ek

        stem = self.recipe.name + ("_int8" if artifact.quantized else "")
        for fmt in step.formats:
            path = self.out / f"{stem}.{fmt}"
            self.progress(f"export {path.name}", 0, 1)
            if isinstance(artifact.model, Path):
                if fmt == "onnx":
                    continue
                result = ek.convert(artifact.model, path)
            else:
                result = ek.export(artifact.model, self._example(artifact), path)
            artifact.files[fmt] = result.path
            record.files[fmt] = str(result.path)
            if result.parity is not None:
                record.parity[fmt] = result.parity.to_dict()
            record.notes.extend(result.notes)
        record.size_bytes = max((Path(p).stat().st_size for p in record.files.values()), default=None)

    def _verify(self, step: VerifyStep, artifact: Artifact, record: StageRecord) -> None:
        import edgekit as ek
        from edgekit.demo import accuracy
        from edgekit.runtime import Model

        d = artifact.data
        accuracies = {}
        for fmt, path in artifact.files.items():
            accuracies[fmt] = accuracy(Model.load(path), d.x_test, d.y_test)
        record.parity["accuracy"] = accuracies
        record.accuracy = accuracies.get("tflite", next(iter(accuracies.values()), None))
        if {"onnx", "tflite"} <= set(artifact.files):
            onnx_file = artifact.files["onnx"]
            if (
                artifact.quantized
            ):  # judge the file by its QDQ semantics; ORT's fused x86 kernels are reported too
                from edgekit.converters.api import qdq_reference

                default = ek.compare(onnx_file, artifact.files["tflite"], [d.x_test])
                record.parity["onnxruntime_default_vs_tflite"] = default.to_dict()
                onnx_file = qdq_reference(Path(onnx_file))
            report = ek.compare(onnx_file, artifact.files["tflite"], [d.x_test])
            record.parity["onnx_vs_tflite"] = report.to_dict()
            if report.top1_agreement < step.min_top1_agreement:
                raise StepError(
                    f"ONNX and TFLite agree on {report.top1_agreement:.2%} of the test split "
                    f"(< {step.min_top1_agreement:.2%})"
                )
        record.files = {k: str(v) for k, v in artifact.files.items()}
        record.size_bytes = max((Path(p).stat().st_size for p in artifact.files.values()), default=None)

    def _profile(self, step: ProfileStep, artifact: Artifact, record: StageRecord) -> None:
        from edgekit.runtime import Model

        errors = []
        for device in step.devices:
            for fmt, path in artifact.files.items():
                label = f"{fmt}@{device}"
                self.progress(f"profile {label}", 0, step.runs)
                try:
                    if device == "local":
                        profile = Model.load(path, threads=step.threads).benchmark(
                            runs=step.runs,
                            warmup=step.warmup,
                            progress=lambda done, total, label=label: self.progress(
                                f"profile {label}", done, total
                            ),
                        )
                    else:
                        from edgekit.devices import connect

                        with connect(device, key=step.key, known_hosts=step.known_hosts) as remote:
                            profile = remote.profile(
                                path, threads=step.threads, runs=step.runs, warmup=step.warmup
                            )
                    record.latency[label] = profile.to_dict()
                except Exception as exc:  # a device failing must not lose the other measurements
                    errors.append(f"{label}: {type(exc).__name__}: {exc}")
                    record.latency[label] = {"error": str(exc)}
        record.files = {k: str(v) for k, v in artifact.files.items()}
        if errors:
            raise StepError("; ".join(errors))


def run(
    recipe_or_path: Recipe | str | Path,
    *,
    out: str | Path,
    force: bool = False,
    progress: Progress | None = None,
) -> RunSummary:
    """Run a recipe (a :class:`Recipe` or a YAML path) into the folder ``out``.

    Writes the artifacts, ``summary.json`` and a self-contained ``report.html``. A failing step is
    recorded (and named in the report) instead of raised; check ``summary.ok``.
    """
    from edgekit.recipes.loader import load_recipe

    recipe = recipe_or_path if isinstance(recipe_or_path, Recipe) else load_recipe(recipe_or_path)
    if not isinstance(recipe, Recipe):
        raise RecipeError("run() takes a Recipe or the path of a recipe file")
    return Runner(recipe, Path(out), force=force, progress=progress).run()
