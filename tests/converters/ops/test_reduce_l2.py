"""ReduceL2 (torch.linalg.vector_norm / F.normalize; Swin V2's cosine attention) converts with parity."""

from __future__ import annotations

from pathlib import Path

import onnx
import torch

import edgekit as ek


class CosineSimilarity(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q = torch.nn.functional.normalize(x, dim=-1)
        return q @ q.transpose(-2, -1) + torch.linalg.vector_norm(x, dim=-1, keepdim=True)


def test_reduce_l2_converts_with_parity(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model, x = CosineSimilarity().eval(), torch.randn(1, 5, 8)
    onnx_ops = {n.op_type for n in onnx.load(str(ek.export(model, x, tmp_path / "n.onnx").path)).graph.node}
    assert "ReduceL2" in onnx_ops, onnx_ops
    result = ek.export(model, x, tmp_path / "n.tflite")
    assert result.parity.within(cosine=0.9999, rel_max_abs=1e-3), result.parity.summary()
