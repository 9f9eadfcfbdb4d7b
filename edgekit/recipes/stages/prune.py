"""``prune``: structured channel pruning (``ek.prune`` with a :class:`PruneConfig`), then fine-tuning,
optionally distilled from the unpruned model."""

from __future__ import annotations

import copy
import dataclasses
from typing import Annotated, Literal

from pydantic import Field

from edgekit.pruning.config import PruneConfig
from edgekit.recipes.embed import EmbeddedConfig
from edgekit.recipes.records import StageRecord
from edgekit.recipes.stages.base import Context, Needs, Step


class PruneStep(Step):
    """The keys of :class:`~edgekit.pruning.PruneConfig` (ratio, importance, round_to, ...) plus fine-tuning.

    ``importance: taylor`` ranks channels with the gradients of one training batch."""

    step: Literal["prune"]
    config: Annotated[PruneConfig, EmbeddedConfig(PruneConfig)]
    distill: bool = True
    epochs: int = Field(4, ge=0)
    lr: float = Field(2e-3, gt=0)

    after = ("train",)
    needs = Needs.TORCH_MODEL

    def run(self, ctx: Context, record: StageRecord) -> None:
        import torch

        import edgekit as ek

        a = ctx.artifact
        teacher = copy.deepcopy(a.model).eval()
        batch = (torch.from_numpy(a.data.x_train[:64]), torch.from_numpy(a.data.y_train[:64]))
        result = ek.prune(
            a.model, ctx.example(), self.config, loss_fn=batch if self.config.needs_gradients else None
        )
        a.model = result.model
        record.layers = [dataclasses.asdict(layer) for layer in result.layers]
        if self.epochs:
            loss = ek.Distiller(teacher) if self.distill else None
            ctx.fit(a.model, "fine-tune", epochs=self.epochs, lr=self.lr, loss_fn=loss)
        a.teacher = teacher if self.distill else None
        ctx.describe(record)
