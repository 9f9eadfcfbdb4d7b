"""A channels-last tensor permuted back to NCHW (``x.permute(0, 3, 1, 2)``, ConvNeXt's blocks and its
LayerNorm2d) is already the NHWC-held NCHW map: the direct writer emits no TRANSPOSE for it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torchvision.models.convnext import CNBlockConfig, ConvNeXt

import edgekit as ek
from edgekit.runtime import Model


def _convnext_features() -> torch.nn.Module:
    """Two stages of ConvNeXt (stem, LayerNorm2d, blocks, downsampling), without the classifier head."""
    torch.manual_seed(0)
    model = ConvNeXt([CNBlockConfig(16, 32, 2), CNBlockConfig(32, None, 1)], num_classes=10)
    with torch.no_grad():  # layer scale starts at 1e-6: make the residual branch count
        for block in model.modules():
            if hasattr(block, "layer_scale"):
                block.layer_scale.fill_(0.5)
    return model.features.eval()


def test_convnext_stages_have_no_transpose(tmp_path: Path) -> None:
    model = _convnext_features()
    result = ek.export(model, torch.rand(1, 3, 32, 32), tmp_path / "convnext.tflite")
    assert "TRANSPOSE" not in result.ops, result.ops
    assert result.parity.within(cosine=0.9999, rel_max_abs=1e-3), result.parity.summary()


class PermuteBack(torch.nn.Module):
    """conv -> channels-last Linear -> permute back; the permuted map then feeds ``tail``."""

    def __init__(self, tail: str) -> None:
        super().__init__()
        self.tail = tail
        self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.fc = torch.nn.Linear(8, 8)
        self.scale = torch.nn.Parameter(torch.linspace(0.5, 2.0, 8).reshape(8, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.fc(self.conv(x).permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        if self.tail == "output":
            return y
        if self.tail == "scale_residual":
            return self.scale * y + x.mean(1, keepdim=True)
        if self.tail == "flatten":
            return torch.flatten(y, 1)
        return y[:, :, 1:5, :].softmax(1)  # slice, softmax over channels


@pytest.mark.parametrize("tail", ["output", "scale_residual", "flatten", "slice_softmax"])
def test_permute_back_feeds_any_consumer(tail: str, tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = PermuteBack(tail).eval()
    x = torch.rand(2, 3, 6, 6)
    result = ek.export(model, x[:1], tmp_path / f"{tail}.tflite")
    np.testing.assert_allclose(Model.load(result.path)(x.numpy()), model(x).detach().numpy(), atol=1e-5)
