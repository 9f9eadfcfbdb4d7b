"""Not (``!=`` exports as Equal + Not; Swin's attention mask uses it) converts to TFLite with parity."""

from __future__ import annotations

from pathlib import Path

import torch

import edgekit as ek


class MaskNotEqual(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.where(x.round() != 0, x, torch.full_like(x, -5.0))


def test_not_equal_converts_with_parity(tmp_path: Path) -> None:
    torch.manual_seed(0)
    x = torch.randn(1, 4, 6)
    result = ek.export(MaskNotEqual().eval(), x, tmp_path / "not.tflite")
    assert result.parity.within(cosine=0.9999, rel_max_abs=1e-3), result.parity.summary()
    assert "LOGICAL_NOT" in result.ops or "NOT_EQUAL" in result.ops, result.ops
