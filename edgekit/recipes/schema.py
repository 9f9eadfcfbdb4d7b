"""The recipe format: a model source, a data source and an ordered list of typed steps.

Steps are a discriminated union on ``step`` of the registered step classes (:mod:`edgekit.recipes.stages`);
unknown keys are errors. The order is checked before any work starts, from each step class's ``after``
and ``needs``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, model_validator

from edgekit.recipes.stages import STEPS, Needs, Step, must_precede, order_text, ordered


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


if TYPE_CHECKING:
    AnyStep = Step
else:  # a discriminated union of every registered step class
    AnyStep = Annotated[Union[tuple(ordered())], Field(discriminator="step")]  # noqa: UP007


class Recipe(_Strict):
    """A whole pipeline. See ``examples/digits.yaml``."""

    name: str = "edgekit"
    seed: int = 0
    model: ModelSource
    data: DataSource
    steps: list[AnyStep] = Field(min_length=1)

    @model_validator(mode="after")
    def _order(self) -> Recipe:
        kinds = [s.step for s in self.steps]
        if len(set(kinds)) != len(kinds):
            raise ValueError(f"each step may appear once; got {kinds}")
        for i, earlier in enumerate(kinds):
            for j in range(i + 1, len(kinds)):
                if kinds[j] in must_precede(earlier):
                    raise ValueError(
                        f"step {j + 1} ({kinds[j]}) cannot come after step {i + 1} ({earlier}): "
                        f"the order is {order_text()}"
                    )
        for i, step in enumerate(self.steps):
            if step.needs is Needs.FILES and not any(s.writes_files for s in self.steps[:i]):
                writers = ", ".join(n for n, c in STEPS.items() if c.writes_files)
                raise ValueError(
                    f"{step.step} needs files: put a step that writes them ({writers}) before it"
                )
        if self.model.onnx is not None and any(s.needs is Needs.TORCH_MODEL for s in self.steps):
            allowed = ", ".join(n for n, c in STEPS.items() if c.needs is not Needs.TORCH_MODEL)
            raise ValueError(f"an ONNX model source can only go through the steps {allowed}")
        return self
