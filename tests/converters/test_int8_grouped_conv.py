"""Int8 grouped convolutions (not depthwise: RegNet, ResNeXt, EfficientViT's multi-scale aggregation) are
written as SPLIT -> one CONV_2D per group -> CONCATENATION. The per-group convolutions had no quantization
parameters (the ONNX QuantizeLinear marks the concatenation, or the bias ADD after it) and the writer
refused the model; now each group adds its own bias slice and writes at the concatenation's scale."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import edgekit as ek


class Grouped(torch.nn.Module):
    """A grouped conv with BatchNorm (folded into a bias), and one without bias feeding a concatenation
    next to its own input (EfficientViT's LiteMLA aggregation)."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = torch.nn.Conv2d(3, 16, 3, padding=1)
        self.grouped = torch.nn.Conv2d(16, 16, 3, padding=1, groups=4, bias=False)
        self.bn = torch.nn.BatchNorm2d(16)
        self.aggregate = torch.nn.Conv2d(16, 16, 1, groups=2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.stem(x))
        y = torch.relu(self.bn(self.grouped(y)))
        return torch.cat([y, self.aggregate(y)], dim=1)


@pytest.mark.parametrize("scheme", [ek.QuantScheme.INT8, ek.QuantScheme.INT16X8])
def test_grouped_conv_is_fully_integer(tmp_path: Path, scheme: ek.QuantScheme) -> None:
    torch.manual_seed(0)
    model = Grouped()
    model.bn.running_mean.uniform_(-0.5, 0.5)
    model.bn.running_var.uniform_(0.5, 2.0)
    model.eval()
    calibration = [torch.randn(4, 3, 8, 8) for _ in range(2)]
    config = ek.QuantConfig(scheme=scheme)
    quantized = ek.quantize(model, torch.randn(1, 3, 8, 8), config=config, calibrate=calibration).model
    result = ek.export(
        quantized, torch.randn(1, 3, 8, 8), tmp_path / "grouped.tflite", ek.ExportConfig(verify=False)
    )
    assert result.ops.get("QUANTIZE", 0) == 0 and result.ops.get("DEQUANTIZE", 0) == 0, result.notes
    assert result.ops["CONV_2D"] == 1 + 4 + 2, result.ops
    rng = np.random.default_rng(1)
    inputs = [rng.standard_normal((1, 3, 8, 8), dtype=np.float32) for _ in range(4)]
    assert ek.compare(quantized, result.path, inputs).cosine_min >= 0.999
