"""Int8 TFLite files run the ops people ship as TFLite runs them: no silent float islands.

Squeeze-and-excitation (HardSigmoid) and HardSwish run int8 (no QUANTIZE / DEQUANTIZE in the file); a
transformer block runs its Linear layers, GELU and attention (BATCH_MATMUL, SOFTMAX) int8 while
LayerNorm (no TFLite int8 kernel) stays float with a note naming the ONNX node; an op with no int8 kernel
is named in the notes; bad calibration data is rejected before the model is captured.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

import edgekit as ek
from edgekit.errors import QuantizationError


class SqueezeExcite(torch.nn.Module):
    """MobileNetV3's block: conv + BN + hardswish, depthwise conv, SE with a hardsigmoid gate."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = torch.nn.Sequential(
            torch.nn.Conv2d(3, 16, 3, 2, 1), torch.nn.BatchNorm2d(16), torch.nn.Hardswish()
        )
        self.dw = torch.nn.Sequential(
            torch.nn.Conv2d(16, 16, 3, 1, 1, groups=16), torch.nn.BatchNorm2d(16), torch.nn.Hardswish()
        )
        self.squeeze = torch.nn.Conv2d(16, 8, 1)
        self.excite = torch.nn.Conv2d(8, 16, 1)
        self.gate = torch.nn.Hardsigmoid()
        self.head = torch.nn.Linear(16, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.dw(self.stem(x))
        s = self.gate(self.excite(torch.relu(self.squeeze(x.mean((2, 3), keepdim=True)))))
        return self.head((x * s).mean((2, 3)))


class TransformerBlock(torch.nn.Module):
    """Patch embedding, pre-norm attention and GELU MLP with residuals, mean-pooled head."""

    def __init__(self, dim: int = 32, heads: int = 2) -> None:
        super().__init__()
        self.embed = torch.nn.Conv2d(3, dim, 4, 4)
        self.ln1 = torch.nn.LayerNorm(dim)
        self.attn = torch.nn.MultiheadAttention(dim, heads, batch_first=True)
        self.ln2 = torch.nn.LayerNorm(dim)
        self.mlp = torch.nn.Sequential(
            torch.nn.Linear(dim, 2 * dim), torch.nn.GELU(), torch.nn.Linear(2 * dim, dim)
        )
        self.head = torch.nn.Linear(dim, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = self.embed(x).flatten(2).transpose(1, 2)
        h = self.ln1(t)
        t = t + self.attn(h, h, h, need_weights=False)[0]
        t = t + self.mlp(self.ln2(t))
        return self.head(t.mean(1))


class SinGate(torch.nn.Module):
    """A conv net with ``sin`` in the middle: the quantizer leaves it float (TFLite has no int8 SIN)."""

    def __init__(self) -> None:
        super().__init__()
        self.a = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.b = torch.nn.Conv2d(8, 4, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b(torch.sin(self.a(x)))


def _int8_file(model: torch.nn.Module, size: int, path: Path) -> tuple[torch.nn.Module, ek.ExportResult]:
    torch.manual_seed(0)
    model.train()
    with torch.no_grad():  # BatchNorm statistics of the inputs (random init outputs ~0 otherwise)
        model(torch.rand(8, 3, size, size))
    model.eval()
    calibration = [torch.rand(8, 3, size, size) for _ in range(2)]
    quantized = ek.quantize(model, torch.rand(1, 3, size, size), calibrate=calibration).model
    return quantized, ek.export(quantized, torch.rand(1, 3, size, size), path, ek.ExportConfig(verify=False))


def _float_ops(path: Path) -> Counter[str]:
    """Op types of the file that write a float32 tensor."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interp = Interpreter(
        model_path=str(path), experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    )
    dtypes = {t["index"]: t["dtype"] for t in interp.get_tensor_details()}
    return Counter(
        op["op_name"]
        for op in interp._get_ops_details()
        if any(dtypes.get(int(i)) == np.float32 for i in op["outputs"])
    )


def _inputs(size: int) -> list[np.ndarray]:
    rng = np.random.default_rng(1)
    return [rng.random((1, 3, size, size), dtype=np.float32) for _ in range(8)]


def test_hardsigmoid_and_hardswish_run_int8(tmp_path: Path) -> None:
    quantized, result = _int8_file(SqueezeExcite(), 16, tmp_path / "se.tflite")
    assert result.ops.get("QUANTIZE", 0) == 0 and result.ops.get("DEQUANTIZE", 0) == 0, result.ops
    assert result.ops["HARD_SWISH"] == 2 and not _float_ops(result.path)
    report = ek.compare(quantized, result.path, _inputs(16))
    assert report.cosine_min >= 0.99 and report.top1_agreement == 1.0, report
    # per-layer parity matches HardSigmoid's scalar int8 constants too (a 0-d tap crashed it)
    layers = ek.compare(quantized, result.path, _inputs(16)[:1], per_layer=True).layers
    assert layers and any(layer.name.startswith("hardsigmoid") for layer in layers)


def test_transformer_block_quantizes_with_expected_op_types(tmp_path: Path) -> None:
    quantized, result = _int8_file(TransformerBlock(), 16, tmp_path / "block.tflite")
    assert result.ops["FULLY_CONNECTED"] == 5 and result.ops["GELU"] == 1 and result.ops["BATCH_MATMUL"] == 2
    floating = _float_ops(result.path)
    # int8: every Linear (q/k/v, out projection, MLP, head), GELU, the attention core (q @ k^T, its scale,
    # SOFTMAX, @ v); float: LayerNorm only (no int8 kernel in TFLite), named in the notes
    assert not {"FULLY_CONNECTED", "GELU", "CONV_2D", "BATCH_MATMUL", "SOFTMAX"} & set(floating), floating
    assert "RSQRT" in floating
    float_notes = [n for n in result.notes if "runs in float" in n]
    assert len(float_notes) == 2 and all("LayerNormalization node" in n for n in float_notes), float_notes
    report = ek.compare(quantized, result.path, _inputs(16))
    assert report.cosine_min >= 0.99 and report.top1_agreement == 1.0, report


def test_op_without_int8_quantization_is_named_in_the_notes(tmp_path: Path) -> None:
    quantized, result = _int8_file(SinGate(), 8, tmp_path / "sin.tflite")
    sin_notes = [n for n in result.notes if "Sin node" in n]
    assert sin_notes and "runs in float (SIN)" in sin_notes[0] and "DEQUANTIZE / QUANTIZE" in sin_notes[0]
    assert (
        result.ops["DEQUANTIZE"] == 1
        and result.ops["QUANTIZE"] == 1
        and set(_float_ops(result.path))
        == {
            "DEQUANTIZE",
            "SIN",
        }
    )
    assert ek.compare(quantized, result.path, _inputs(8)).cosine_min >= 0.99


class DistilledHead(torch.nn.Module):
    """LeViT's distilled head in eval: the mean of two classifiers as ``(a + b) / 2``."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.head, self.head_dist = torch.nn.Linear(8, 4), torch.nn.Linear(8, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.conv(x)).mean((2, 3))
        return (self.head(y) + self.head_dist(y)) / 2


def test_division_by_a_constant_runs_int8(tmp_path: Path) -> None:
    """``x / 2`` is an int8 MUL by 0.5 (it was a float island: DEQUANTIZE -> MUL -> QUANTIZE)."""
    quantized, result = _int8_file(DistilledHead(), 8, tmp_path / "head.tflite")
    assert result.ops.get("QUANTIZE", 0) == 0 and result.ops.get("DEQUANTIZE", 0) == 0, result.notes
    assert result.ops["MUL"] == 1 and not _float_ops(result.path)
    assert ek.compare(quantized, result.path, _inputs(8)).cosine_min >= 0.999


class Counting(torch.nn.Module):
    """A small CNN that counts its forward calls (capture and calibration both call it)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3)
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return self.conv(x)


@pytest.mark.parametrize(
    ("batches", "message"),
    [
        (
            [np.zeros((4, 3, 9, 9), np.float32)],
            r"calibration batch 0 has shape \(4, 3, 9, 9\); the model takes \(N, 3, 8, 8\)",
        ),
        (
            [np.zeros((4, 3, 8, 8), np.uint8)],
            r"calibration batch 0 \(input 0\) has dtype torch.uint8; the model takes torch.float32",
        ),
        (
            [(np.zeros((4, 3, 8, 8), np.float32),) * 2],
            "calibration batch 0 has 2 tensors; the model takes 1 inputs",
        ),
        ([], "calibration data is empty"),
        (iter(()), "calibration data is empty"),
    ],
    ids=["shape", "dtype", "count", "empty-list", "empty-generator"],
)
def test_bad_calibration_is_rejected_before_capture(batches: object, message: str) -> None:
    model = Counting()
    with pytest.raises(QuantizationError, match=message):
        ek.quantize(model, torch.rand(1, 3, 8, 8), calibrate=batches)
    assert model.calls == 0  # nothing was captured or run


def test_a_generator_of_batches_calibrates_with_every_batch() -> None:
    batches = (np.random.rand(2, 3, 8, 8).astype(np.float32) for _ in range(3))
    assert ek.quantize(Counting(), torch.rand(1, 3, 8, 8), calibrate=batches).calibration_samples == 6
