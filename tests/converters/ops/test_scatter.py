"""ScatterND (Swin's masks are built by slice assignment) converts to TFLite with parity."""

from __future__ import annotations

from pathlib import Path

import torch

import edgekit as ek


class SliceAssign(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x * 2
        y[:, 1:3, 2:5] = x[:, 1:3, 2:5].exp()  # a slice of a computed tensor replaced by computed values
        return y + 1


def test_scatter_nd_converts_with_parity(tmp_path: Path) -> None:
    torch.manual_seed(0)
    result = ek.export(SliceAssign().eval(), torch.randn(1, 4, 6), tmp_path / "scatter.tflite")
    assert result.parity.within(cosine=0.9999, rel_max_abs=1e-3), result.parity.summary()
