"""``convert(tflite_calibration=)`` on a ResNet-style stem (padded 3x3/2 max pool): the int8 file runs under
XNNPACK. The max pool's explicit padding used to be a float32-min constant that TFLite's calibrator
observed, giving the pool an int8 scale of ~1e36 (every activation 0) that XNNPACK refused at prepare."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision

import edgekit as ek
from edgekit.runtime import Model


class Stem(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.pool = torch.nn.MaxPool2d(3, stride=2, padding=1)
        self.fc = torch.nn.Linear(8, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.pool(torch.relu(self.conv(x)))
        return self.fc(y.mean((2, 3)))


def _int8_under_xnnpack(model: torch.nn.Module, side: int, tmp_path: Path) -> float:
    torch.manual_seed(0)
    x = torch.rand(1, 3, side, side)
    onnx_path = ek.export(model.eval(), x, tmp_path / "m.onnx").path
    rng = np.random.default_rng(0)
    batches = [rng.random((4, 3, side, side), dtype=np.float32) for _ in range(2)]
    result = ek.convert(onnx_path, tmp_path / "m.tflite", tflite_calibration=batches)
    assert result.quantized and "MIRROR_PAD" in result.ops and "PADV2" not in result.ops, result.ops
    int8 = Model.load(result.path, delegate="xnnpack")  # raised "failed to prepare" before
    got = int8.run(batches[0][:1]).reshape(-1)
    with torch.no_grad():
        want = model(torch.from_numpy(batches[0][:1])).numpy().reshape(-1)
    return float(got @ want / (np.linalg.norm(got) * np.linalg.norm(want)))


def test_calibrated_max_pool_stem_runs_under_xnnpack(tmp_path: Path) -> None:
    assert _int8_under_xnnpack(Stem(), 16, tmp_path) > 0.99


@pytest.mark.slow
def test_calibrated_resnet18_runs_under_xnnpack(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None, num_classes=10)
    model.train()
    with torch.no_grad():  # BatchNorm statistics, or the untrained net outputs ~0
        model(torch.rand(4, 3, 64, 64))
    assert _int8_under_xnnpack(model, 64, tmp_path) > 0.99
