"""A 16x8 squeeze-and-excitation gate (HardSigmoid, written as ADD(+3, RELU6) -> MUL(1/6)) keeps int16
on both MUL inputs: the input the writer derives from the MUL's output range was typed int8, and LiteRT
refused the file (``mul.cc: input1->type != input2->type (INT16 != INT8)``, SSDLite's first SE block)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

import edgekit as ek


class Gate(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.excite = torch.nn.Conv2d(8, 8, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.conv(x))
        return y * torch.nn.functional.hardsigmoid(self.excite(y.mean((2, 3), keepdim=True)))


def test_int16x8_hardsigmoid_gate_runs_in_litert(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = Gate().eval()
    config = ek.QuantConfig(scheme=ek.QuantScheme.INT16X8)
    calibration = [torch.rand(4, 3, 8, 8) for _ in range(2)]
    quantized = ek.quantize(model, torch.rand(1, 3, 8, 8), config=config, calibrate=calibration).model
    result = ek.export(
        quantized, torch.rand(1, 3, 8, 8), tmp_path / "gate.tflite", ek.ExportConfig(verify=False)
    )
    assert result.ops.get("QUANTIZE", 0) == 0 and result.ops.get("DEQUANTIZE", 0) == 0, result.notes
    rng = np.random.default_rng(1)
    inputs = [rng.random((1, 3, 8, 8), dtype=np.float32) for _ in range(4)]
    assert ek.compare(quantized, result.path, inputs).cosine_min >= 0.999
