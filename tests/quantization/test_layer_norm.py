"""``QuantConfig(layer_norm=...)``: LayerNorm as a float island (default) or quantized op by op."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import edgekit as ek
from edgekit.errors import QuantizationError
from edgekit.runtime import Model


class _Block(torch.nn.Module):
    """A transformer MLP block in small: LayerNorm -> Linear -> GELU -> Linear, on [1, tokens, dim]."""

    def __init__(self) -> None:
        super().__init__()
        self.norm = torch.nn.LayerNorm(16)
        self.fc1 = torch.nn.Linear(16, 32)
        self.fc2 = torch.nn.Linear(32, 16)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.fc2(torch.nn.functional.gelu(self.fc1(self.norm(x))))


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_layer_norm_mode_is_an_enum() -> None:
    assert ek.QuantConfig().layer_norm is ek.LayerNormMode.FLOAT
    assert ek.QuantConfig(layer_norm="int8").layer_norm is ek.LayerNormMode.INT8
    with pytest.raises(QuantizationError, match="layer_norm"):
        ek.QuantConfig(layer_norm="int4")


def test_int8_layer_norm_runs_on_integer_kernels(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = _Block().eval()
    x = torch.randn(1, 8, 16) * 3 + 1
    calibration = [torch.randn(1, 8, 16) * 3 + 1 for _ in range(8)]
    results = {}
    for mode in ("float", "int8"):
        quantized = ek.quantize(model, x, calibrate=calibration, config=ek.QuantConfig(layer_norm=mode)).model
        result = ek.export(quantized, x, tmp_path / f"{mode}.tflite")  # verified against PyTorch int8
        assert result.parity is not None and result.parity.cosine_min > 0.99, result.parity
        out = Model.load(result.path).run(x.numpy())
        out = out[0] if isinstance(out, list | tuple) else out
        with torch.no_grad():
            assert _cosine(out, model(x).numpy()) > 0.99
        results[mode] = result
    assert results["float"].ops.get("DEQUANTIZE", 0) > 0  # the float island, named in the notes
    assert any("LayerNormalization" in n for n in results["float"].notes)
    assert results["int8"].ops.get("DEQUANTIZE", 0) == 0
    assert results["int8"].ops.get("QUANTIZE", 0) == 0
    assert (
        results["int8"].ops.get("RSQRT", 0) == 1
    )  # Reciprocal(Sqrt) fused: SQRT and DIV have no int8 kernel
    assert not any("LayerNormalization" in n for n in results["int8"].notes)
