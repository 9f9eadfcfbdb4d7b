"""The base of every recipe step: its schema (pydantic fields), its predecessors, what it needs, ``run``.

A step class is registered when it is defined (see :data:`STEPS`); the recipe schema, the order checks
and the runner are all derived from the registered classes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, ClassVar, get_args

from pydantic import BaseModel, ConfigDict, model_validator

from edgekit.recipes.embed import EmbeddedConfig
from edgekit.recipes.records import StageRecord

Progress = Callable[[str, int, int], None]
"""progress(message, done, total)"""

CONFIG_FIELD = "config"
"""The field that holds a step's embedded config dataclass; its keys sit flat on the step in YAML."""


class Needs(str, Enum):
    """What a step works on; it decides which steps can re-run alone from files and what may follow a
    failure."""

    TORCH_MODEL = "torch_model"  # a torch.nn.Module in memory (train, prune, quantize)
    MODEL = "model"  # the model in memory, or the ONNX source file (export)
    FILES = "files"  # only files an earlier step wrote (verify, profile): re-runs alone from them


@dataclass
class Artifact:
    """What flows from step to step."""

    model: Any
    data: Any
    teacher: Any = None
    quantized: bool = False
    files: dict[str, Path] = field(default_factory=dict)


@dataclass
class Context:
    """What the runner hands a step: the artifact, the output folder, the seed and progress reporting."""

    name: str
    seed: int
    out: Path
    artifact: Artifact
    progress: Progress

    def example(self) -> Any:
        """One training sample (batch 1) as a torch tensor: the example input of the edgekit verbs."""
        import torch

        return torch.from_numpy(self.artifact.data.x_train[:1])

    def describe(self, record: StageRecord) -> None:
        """Record the model's test accuracy and, unless quantized, its MACs and parameters."""
        import torch_pruning as tp

        from edgekit.training import accuracy

        a = self.artifact
        record.accuracy = accuracy(a.model, a.data.x_test, a.data.y_test)
        if not a.quantized:
            macs, params = tp.utils.count_ops_and_params(a.model, self.example())
            record.macs, record.params = int(macs), int(params)

    def fit(self, model: Any, label: str, *, epochs: int, lr: float, **kwargs: Any) -> None:
        """Train ``model`` on the training split, reporting each epoch as progress."""
        from edgekit.training import train

        d = self.artifact.data

        def on_epoch(epoch: int, loss: float) -> None:
            self.progress(f"{label} epoch {epoch + 1}/{epochs} loss {loss:.3f}", epoch + 1, epochs)

        train(model, d.x_train, d.y_train, epochs=epochs, lr=lr, seed=self.seed, on_epoch=on_epoch, **kwargs)


STEPS: dict[str, type[Step]] = {}
"""Every step class by its name (the ``step:`` value in YAML), in definition order."""


class Step(BaseModel):
    """Base of the step classes. A subclass declares:

    * ``step: Literal["name"]``: its name in YAML (the discriminator);
    * its settings as pydantic fields, and optionally
      ``config: Annotated[SomeConfig, EmbeddedConfig(SomeConfig)]`` for a verb's config dataclass;
    * ``after`` / ``before``: the steps that must come before / after it when the recipe has them;
    * ``needs``: see :class:`Needs`; ``writes_files``: True for a step whose files later steps read;
    * ``run(ctx, record)``: the work, changing ``ctx.artifact`` and filling ``record``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    after: ClassVar[tuple[str, ...]] = ()
    before: ClassVar[tuple[str, ...]] = ()
    needs: ClassVar[Needs] = Needs.TORCH_MODEL
    writes_files: ClassVar[bool] = False
    step: str

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        names = get_args(cls.model_fields["step"].annotation)
        if len(names) != 1:
            raise TypeError(f"{cls.__name__} must declare step: Literal['its-name']")
        embedded = cls.embedded()
        if embedded is not None:
            clash = set(embedded.fields) & (set(cls.model_fields) - {CONFIG_FIELD})
            if clash:
                raise TypeError(f"{cls.__name__}: fields {sorted(clash)} are both step and config fields")
        other = STEPS.get(names[0])
        if other is not None and other.__qualname__ != cls.__qualname__:
            raise TypeError(
                f"{cls.__name__}: step {names[0]!r} is already {other.__module__}.{other.__name__}"
            )
        STEPS[names[0]] = cls

    @classmethod
    def embedded(cls) -> EmbeddedConfig | None:
        """The :class:`EmbeddedConfig` of the ``config`` field, if the step has one."""
        info = cls.model_fields.get(CONFIG_FIELD)
        return next((m for m in info.metadata if isinstance(m, EmbeddedConfig)), None) if info else None

    @model_validator(mode="before")
    @classmethod
    def _gather_config(cls, data: Any) -> Any:
        """Move the flat YAML keys of the embedded config into the ``config`` field."""
        embedded = cls.embedded()
        if embedded is None or not isinstance(data, dict) or CONFIG_FIELD in data:
            return data
        own = set(cls.model_fields)
        return {k: v for k, v in data.items() if k in own} | {
            CONFIG_FIELD: {k: v for k, v in data.items() if k not in own}
        }

    def run(self, ctx: Context, record: StageRecord) -> None:
        raise NotImplementedError

    def restore(self, artifact: Artifact, record: StageRecord) -> None:
        """Bring ``artifact`` to the state after this step from its cached ``record`` (files only)."""
        artifact.files.update({k: Path(v) for k, v in record.files.items()})
