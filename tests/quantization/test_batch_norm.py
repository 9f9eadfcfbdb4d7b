"""BatchNorm that PT2E cannot fold into a conv / linear runs int8: LeViT's Linear -> flatten -> BatchNorm1d
is folded into the Linear, FastViT's identity-branch BatchNorm2d becomes an int8 MUL and ADD; before, each
one was a float island (DEQUANTIZE -> MUL -> ADD -> QUANTIZE) in the .tflite."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

import edgekit as ek


class LinearNorm(torch.nn.Module):
    """LeViT's ``LinearNorm``: the BatchNorm1d reads the linear output through a flatten."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(8, 16, bias=False)
        self.bn = torch.nn.BatchNorm1d(16)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.linear(x)
        return self.bn(y.flatten(0, 1)).reshape_as(y)  # timm's: reshape_as reads the Linear's shape


class Model(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.identity = torch.nn.BatchNorm2d(8)  # FastViT / MobileOne: y + BN(y), no conv before it
        self.tokens = LinearNorm()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.conv(x))
        y = y + self.identity(y)
        return self.tokens(y.flatten(2).transpose(1, 2))


def test_unfolded_batch_norm_runs_int8(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = Model()
    for bn in (model.identity, model.tokens.bn):
        bn.running_mean.uniform_(-0.5, 0.5)
        bn.running_var.uniform_(0.5, 2.0)
        bn.weight.data.uniform_(0.5, 1.5)
        bn.bias.data.uniform_(-0.2, 0.2)
    model.eval()
    calibration = [torch.randn(4, 3, 8, 8) for _ in range(2)]
    quantized = ek.quantize(model, torch.randn(1, 3, 8, 8), calibrate=calibration).model
    ops = [n for n in quantized.graph.nodes if n.op == "call_function"]
    assert not any("batch_norm" in str(n.target) for n in ops)
    muls = [n for n in quantized.graph.nodes if n.target == torch.ops.aten.mul.Tensor]
    assert len(muls) == 1  # the identity branch's; LeViT's BatchNorm1d is folded into its Linear
    result = ek.export(
        quantized, torch.randn(1, 3, 8, 8), tmp_path / "bn.tflite", ek.ExportConfig(verify=False)
    )
    assert result.ops.get("QUANTIZE", 0) == 0 and result.ops.get("DEQUANTIZE", 0) == 0, result.notes
    rng = np.random.default_rng(1)
    inputs = [rng.standard_normal((1, 3, 8, 8), dtype=np.float32) for _ in range(4)]
    assert ek.compare(quantized, result.path, inputs).cosine_min >= 0.999
    assert ek.compare(model, quantized, inputs).cosine_min >= 0.99


def test_zero_weight_batch_norm_runs_int8_and_loads(tmp_path: Path) -> None:
    """LeViT zero-initialises the BatchNorm weight (and bias) of its residual branches: a rewritten MUL and
    ADD write an all-zero tensor whose observed range is degenerate (scale 1.19e-7), and LiteRT aborted the
    process loading the file (ADD's rescale check). The writer widens those output scales, so the BatchNorm
    runs int8 and the file loads (in a child process: an abort fails the test, not the run)."""
    torch.manual_seed(0)
    model = Model()
    for bn in (model.identity, model.tokens.bn):  # the MUL + ADD rewrite, and the fold into the Linear
        bn.weight.data.zero_()
        bn.bias.data.zero_()
    model.eval()
    calibration = [torch.randn(4, 3, 8, 8) for _ in range(2)]
    quantized = ek.quantize(model, torch.randn(1, 3, 8, 8), calibrate=calibration).model
    result = ek.export(
        quantized, torch.randn(1, 3, 8, 8), tmp_path / "bn.tflite", ek.ExportConfig(verify=False)
    )
    assert result.ops.get("QUANTIZE", 0) == 0 and result.ops.get("DEQUANTIZE", 0) == 0, result.notes
    assert any("widened" in note for note in result.notes), result.notes
    load = "from edgekit.runtime import Model; import sys; Model.load(sys.argv[1]).run(__import__('numpy').zeros((1, 3, 8, 8), 'float32'))"
    done = subprocess.run([sys.executable, "-c", load, str(result.path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-400:]
    rng = np.random.default_rng(1)
    inputs = [rng.standard_normal((1, 3, 8, 8), dtype=np.float32) for _ in range(2)]
    assert ek.compare(quantized, result.path, inputs).cosine_min >= 0.99
