"""Erf outside a GELU (TFLite has no ERF): converted as a polynomial with parity, and not mistaken for a
GELU by the fusion pass."""

from __future__ import annotations

from pathlib import Path

import torch

import edgekit as ek


class ErfNet(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 0.5 * (1.0 + torch.erf(x / 1.5))  # GELU-like, but not x / sqrt(2)


def test_erf_that_is_not_gelu_converts_with_parity(tmp_path: Path) -> None:
    torch.manual_seed(0)
    result = ek.export(ErfNet().eval(), torch.randn(1, 32) * 3, tmp_path / "erf.tflite")
    assert result.parity.within(cosine=0.9999, rel_max_abs=1e-3), result.parity.summary()
    assert "GELU" not in result.ops, result.ops
