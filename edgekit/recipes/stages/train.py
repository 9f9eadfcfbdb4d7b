"""``train``: fit the model on the training split."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from edgekit.recipes.records import StageRecord
from edgekit.recipes.stages.base import Context, Needs, Step


class TrainStep(Step):
    step: Literal["train"]
    epochs: int = Field(10, ge=1)
    lr: float = Field(3e-3, gt=0)
    batch_size: int = Field(64, ge=2)

    needs = Needs.TORCH_MODEL

    def run(self, ctx: Context, record: StageRecord) -> None:
        ctx.fit(ctx.artifact.model, "train", epochs=self.epochs, lr=self.lr, batch_size=self.batch_size)
        ctx.describe(record)
