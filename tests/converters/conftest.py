"""Fixtures of the converter tests: QDQ files made by ONNX Runtime (not by edgekit)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

OrtQDQ = Callable[[Path, Path, tuple[int, ...], int, np.random.Generator], Path]


@pytest.fixture(scope="session")
def ort_quantize_static() -> OrtQDQ:
    """``make(fp32, out, shape, batches, rng)``: ONNX Runtime's ``quantize_static`` (QDQ, per-channel int8
    weights, int8 activations) of ``fp32`` calibrated on ``batches`` uniform inputs of ``shape`` drawn from
    ``rng``; returns ``out``."""
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    def make(fp32: Path, out: Path, shape: tuple[int, ...], batches: int, rng: np.random.Generator) -> Path:
        name = onnx.load(str(fp32)).graph.input[0].name

        class Reader(CalibrationDataReader):
            def __init__(self) -> None:
                self.batches = iter([{name: rng.random(shape, dtype=np.float32)} for _ in range(batches)])

            def get_next(self) -> dict | None:
                return next(self.batches, None)

        quantize_static(
            str(fp32),
            str(out),
            Reader(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QInt8,
            weight_type=QuantType.QInt8,
        )
        return out

    return make
