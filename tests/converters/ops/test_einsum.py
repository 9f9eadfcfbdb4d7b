"""Einsum (MaxViT-style relative attention) converts to TFLite with parity."""

from __future__ import annotations

from pathlib import Path

import torch

import edgekit as ek


class Attention(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.qkv = torch.nn.Linear(16, 48)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        scores = torch.einsum("bid,bjd->bij", q, k).softmax(-1)
        return torch.einsum("bij,bjd->bid", scores, v)


def test_einsum_converts_with_parity(tmp_path: Path) -> None:
    torch.manual_seed(0)
    x = torch.randn(1, 7, 16)
    result = ek.export(Attention().eval(), x, tmp_path / "einsum.tflite")
    assert result.parity.within(cosine=0.9999, rel_max_abs=1e-3), result.parity.summary()
    assert "BATCH_MATMUL" in result.ops, result.ops
