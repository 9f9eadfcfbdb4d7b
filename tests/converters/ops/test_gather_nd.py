"""GatherND (advanced indexing with index tensors; Swin V2 uses it) converts to TFLite with parity."""

from __future__ import annotations

from pathlib import Path

import onnx
import torch

import edgekit as ek


class TableLookup(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("rows", torch.tensor([[0, 4, 2], [1, 1, 3]]))
        self.register_buffer("cols", torch.tensor([[6, 0, 2], [5, 3, 1]]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[0, self.rows, self.cols] * 2  # x: (1, 5, 7, 3) -> (2, 3, 3)


def test_gather_nd_converts_with_parity(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model, x = TableLookup().eval(), torch.randn(1, 5, 7, 3)
    onnx_ops = {n.op_type for n in onnx.load(str(ek.export(model, x, tmp_path / "g.onnx").path)).graph.node}
    result = ek.export(model, x, tmp_path / "g.tflite")
    assert result.parity.within(cosine=0.9999, rel_max_abs=1e-3), result.parity.summary()
    assert "GatherND" in onnx_ops, onnx_ops
