"""``verify``: accuracy of every exported file and ONNX-vs-TFLite agreement on the test split."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field

from edgekit.errors import StepError
from edgekit.recipes.records import StageRecord
from edgekit.recipes.stages.base import Context, Needs, Step


class VerifyStep(Step):
    step: Literal["verify"]
    min_top1_agreement: float = Field(0.99, ge=0, le=1)

    after = ("export",)
    needs = Needs.FILES

    def run(self, ctx: Context, record: StageRecord) -> None:
        import edgekit as ek
        from edgekit.runtime import Model
        from edgekit.training import accuracy

        a, d = ctx.artifact, ctx.artifact.data

        def logits(path: Path) -> Callable[[np.ndarray], np.ndarray]:
            model = Model.load(path)
            return lambda x: np.asarray(model(x))  # the first (only) output of a classifier

        accuracies = {fmt: accuracy(logits(path), d.x_test, d.y_test) for fmt, path in a.files.items()}
        record.parity["accuracy"] = accuracies
        record.accuracy = accuracies.get("tflite", next(iter(accuracies.values()), None))
        if {"onnx", "tflite"} <= set(a.files):
            onnx_file = a.files["onnx"]
            if a.quantized:  # judge the file by its QDQ semantics; ORT's fused x86 kernels are reported too
                from edgekit.converters.verify import qdq_reference

                default = ek.compare(onnx_file, a.files["tflite"], [d.x_test])
                record.parity["onnxruntime_default_vs_tflite"] = default.to_dict()
                onnx_file = qdq_reference(Path(onnx_file))
            report = ek.compare(onnx_file, a.files["tflite"], [d.x_test])
            record.parity["onnx_vs_tflite"] = report.to_dict()
            if report.top1_agreement < self.min_top1_agreement:
                raise StepError(
                    f"ONNX and TFLite agree on {report.top1_agreement:.2%} of the test split "
                    f"(< {self.min_top1_agreement:.2%})"
                )
        record.files = {k: str(v) for k, v in a.files.items()}
        record.size_bytes = max((Path(p).stat().st_size for p in a.files.values()), default=None)
