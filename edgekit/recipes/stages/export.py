"""``export``: write the model as ONNX and/or TFLite (int8 when quantized); an ONNX source is converted."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from edgekit.recipes.records import StageRecord
from edgekit.recipes.stages.base import Context, Needs, Step


class ExportStep(Step):
    step: Literal["export"]
    formats: list[Literal["onnx", "tflite"]] = Field(["onnx", "tflite"])

    after = ("train", "prune", "quantize")
    needs = Needs.MODEL
    writes_files = True

    def run(self, ctx: Context, record: StageRecord) -> None:
        import edgekit as ek

        a = ctx.artifact
        stem = ctx.name + ("_int8" if a.quantized else "")
        for fmt in self.formats:
            path = ctx.out / f"{stem}.{fmt}"
            ctx.progress(f"export {path.name}", 0, 1)
            if isinstance(a.model, Path):  # an ONNX source: already ONNX, converted to TFLite
                if fmt == "onnx":
                    continue
                result = ek.convert(a.model, path)
            else:
                result = ek.export(a.model, ctx.example(), path)
            a.files[fmt] = result.path
            record.files[fmt] = str(result.path)
            if result.parity is not None:
                record.parity[fmt] = result.parity.to_dict()
            record.notes.extend(result.notes)
        record.size_bytes = max((Path(p).stat().st_size for p in record.files.values()), default=None)
