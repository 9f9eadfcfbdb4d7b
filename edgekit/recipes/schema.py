"""The recipe format: a model source, a data source and an ordered list of typed steps.

Steps are a discriminated union on ``step``; unknown keys are errors. The order is checked before any
work starts: compression (train, prune, quantize) comes before export, and verify/profile after it.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelSource(_Strict):
    """Exactly one of: a torchvision name, a ``package.module:function`` entry point, the built-in demo
    CNN (``demo: cnn | resnet``), or an ONNX file. ``state_dict`` loads weights (``weights_only=True``)."""

    torchvision: str | None = None
    entry: str | None = None
    demo: Literal["cnn", "resnet"] | None = None
    onnx: Path | None = None
    num_classes: int = 10
    options: dict[str, int | float | bool | str] = {}  # builder arguments, e.g. {width_mult: 0.5}
    state_dict: Path | None = None

    @model_validator(mode="after")
    def _one_source(self) -> ModelSource:
        given = [k for k in ("torchvision", "entry", "demo", "onnx") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                f"give exactly one model source of torchvision, entry, demo, onnx (got {given or 'none'})"
            )
        return self


class DataSource(_Strict):
    """Exactly one of: ``digits`` (scikit-learn's, built in), an ``npz`` file with x_train/y_train/x_test/
    y_test (NCHW float32), an ``images`` folder (one sub-folder per class, read with Pillow), or an
    ``entry`` point returning (x_train, y_train, x_test, y_test)."""

    digits: bool = False
    npz: Path | None = None
    images: Path | None = None
    entry: str | None = None
    size: int = 8
    channels: int = 1
    test_fraction: float = Field(0.25, gt=0, lt=1)

    @model_validator(mode="after")
    def _one_source(self) -> DataSource:
        given = [k for k in ("npz", "images", "entry") if getattr(self, k) is not None] + (
            ["digits"] if self.digits else []
        )
        if len(given) != 1:
            raise ValueError(
                f"give exactly one data source of digits, npz, images, entry (got {given or 'none'})"
            )
        return self


class TrainStep(_Strict):
    step: Literal["train"]
    epochs: int = Field(10, ge=1)
    lr: float = Field(3e-3, gt=0)
    batch_size: int = Field(64, ge=2)


class PruneStep(_Strict):
    step: Literal["prune"]
    ratio: float = Field(0.5, ge=0, lt=1)
    importance: Literal["l1", "l2", "bn_scale", "random"] = "l2"
    round_to: int | None = 8
    distill: bool = True
    epochs: int = Field(4, ge=0)
    lr: float = Field(2e-3, gt=0)


class QuantizeStep(_Strict):
    step: Literal["quantize"]
    mode: Literal["ptq", "qat"] = "qat"
    calibrator: Literal["minmax", "moving_average", "percentile", "mse"] = "minmax"
    epochs: int = Field(2, ge=0)
    lr: float = Field(3e-4, gt=0)
    calibration_samples: int = Field(256, ge=1)


class ExportStep(_Strict):
    step: Literal["export"]
    formats: list[Literal["onnx", "tflite"]] = ["onnx", "tflite"]


class VerifyStep(_Strict):
    step: Literal["verify"]
    min_top1_agreement: float = Field(0.99, ge=0, le=1)


class ProfileStep(_Strict):
    step: Literal["profile"]
    devices: list[str] = ["local"]
    runs: int = Field(100, ge=1)
    warmup: int = Field(10, ge=0)
    threads: int | None = Field(None, ge=1)
    key: Path | None = None
    known_hosts: Path | None = None


Step = Annotated[
    TrainStep | PruneStep | QuantizeStep | ExportStep | VerifyStep | ProfileStep, Field(discriminator="step")
]
STAGE_ORDER = {"train": 0, "prune": 1, "quantize": 2, "export": 3, "verify": 4, "profile": 4}


class Recipe(_Strict):
    """A whole pipeline. See ``examples/digits.yaml``."""

    name: str = "edgekit"
    seed: int = 0
    model: ModelSource
    data: DataSource
    steps: list[Step] = Field(min_length=1)

    @model_validator(mode="after")
    def _order(self) -> Recipe:
        kinds = [s.step for s in self.steps]
        for i, (a, b) in enumerate(itertools.pairwise(kinds)):
            if STAGE_ORDER[b] < STAGE_ORDER[a]:
                raise ValueError(
                    f"step {i + 2} ({b}) cannot come after step {i + 1} ({a}): the order is "
                    "train, prune, quantize, export, then verify/profile"
                )
        for later in ("verify", "profile"):
            if later in kinds and "export" not in kinds[: kinds.index(later)]:
                raise ValueError(f"{later} needs files: put an export step before it")
        if self.model.onnx is not None and any(k in kinds for k in ("train", "prune", "quantize")):
            raise ValueError("an ONNX model source can only be exported (converted), verified and profiled")
        if len(set(kinds)) != len(kinds):
            raise ValueError(f"each step may appear once; got {kinds}")
        return self
