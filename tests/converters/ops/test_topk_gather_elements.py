"""TopK feeding GatherElements (top-k pooling, detection score picking) and a hand-written LayerNorm (the
decomposed ReduceMean / Pow / Sqrt / Div form older exports write) convert from PyTorch with parity."""

from __future__ import annotations

from pathlib import Path

import torch

import edgekit as ek


class TopKGather(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.proj = torch.nn.Linear(8, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scores = self.proj(x)
        top = torch.topk(scores, k=3, dim=-1)
        return torch.gather(x, -1, top.indices) * top.values


class ManualLayerNorm(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.randn(16))
        self.bias = torch.nn.Parameter(torch.randn(16))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(-1, keepdim=True)
        var = (x - mean).pow(2).mean(-1, keepdim=True)
        return (x - mean) / torch.sqrt(var + 1e-6) * self.weight + self.bias


def test_topk_indices_feed_gather_elements(tmp_path: Path) -> None:
    torch.manual_seed(0)
    result = ek.export(TopKGather().eval(), torch.randn(2, 5, 8), tmp_path / "topk.tflite")
    assert result.parity.within(cosine=0.9999, rel_max_abs=1e-3), result.parity.summary()
    assert "TOPK_V2" in result.ops and "GATHER_ND" in result.ops, result.ops


def test_decomposed_layer_norm_converts_with_parity(tmp_path: Path) -> None:
    torch.manual_seed(0)
    result = ek.export(ManualLayerNorm().eval(), torch.randn(1, 6, 16), tmp_path / "ln.tflite")
    assert result.parity.within(cosine=0.9999, rel_max_abs=1e-3), result.parity.summary()
