"""``quantize``: int8 to the TFLite spec, post-training (``ptq``) or quantization-aware (``qat``), with a
:class:`QuantConfig`."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from edgekit.quantization.config import QuantConfig, QuantScheme
from edgekit.recipes.embed import EmbeddedConfig
from edgekit.recipes.records import StageRecord
from edgekit.recipes.stages.base import Artifact, Context, Needs, Step


class QuantizeStep(Step):
    """The keys of :class:`~edgekit.QuantConfig` (scheme, calibrator, percentile, keep_float, ...) plus the
    mode, QAT training and the number of calibration samples. ``scheme: float16`` / ``dynamic_int8``
    quantize weights only (no calibration, no QAT: ``mode`` is ignored)."""

    step: Literal["quantize"]
    config: Annotated[QuantConfig, EmbeddedConfig(QuantConfig)]
    mode: Literal["ptq", "qat"] = "qat"
    epochs: int = Field(2, ge=0)
    lr: float = Field(3e-4, gt=0)
    calibration_samples: int = Field(256, ge=1)

    after = ("train", "prune")
    needs = Needs.TORCH_MODEL

    def run(self, ctx: Context, record: StageRecord) -> None:
        import edgekit as ek

        a = ctx.artifact
        if not QuantScheme(self.config.scheme).calibrated:  # float16 / dynamic_int8: weights only
            a.model = ek.quantize(a.model, ctx.example(), config=self.config).model
        elif self.mode == "ptq":
            a.model = ek.quantize(
                a.model,
                ctx.example(),
                calibrate=a.data.calibration_batches(self.calibration_samples),
                config=self.config,
            ).model
        else:
            qat = ek.prepare_qat(a.model, ctx.example(), config=self.config)
            loss = ek.Distiller(a.teacher) if a.teacher is not None else None
            if self.epochs:
                ctx.fit(qat, "QAT", epochs=self.epochs, lr=self.lr, loss_fn=loss)
            a.model = ek.finalize(qat)
        a.quantized = True
        ctx.describe(record)

    def restore(self, artifact: Artifact, record: StageRecord) -> None:
        super().restore(artifact, record)
        artifact.quantized = True
