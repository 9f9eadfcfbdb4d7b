"""Attention with a padding mask runs int8 in the .tflite: BATCH_MATMUL -> MUL(scale) -> ADD(mask) ->
SOFTMAX -> BATCH_MATMUL, the mask (boolean, or HF's additive ``finfo.min`` one) an int8 tensor at its own
scale. Before, the quantizer decomposed only mask-free SDPA and the masked one ran float between
DEQUANTIZE and QUANTIZE."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
import torch.nn.functional as F

import edgekit as ek
from edgekit.runtime import Model

SEQ, DIM, HEADS = 8, 16, 2


class MaskedAttention(torch.nn.Module):
    """One attention block reading a (batch, seq) 0/1 padding mask, as BERT does."""

    def __init__(self, boolean: bool) -> None:
        super().__init__()
        self.boolean = boolean
        self.q, self.k, self.v = (torch.nn.Linear(DIM, DIM) for _ in range(3))
        self.proj = torch.nn.Linear(DIM, DIM)

    def forward(self, x: torch.Tensor, padding: torch.Tensor) -> torch.Tensor:
        b = x.shape[0]
        q, k, v = (
            f(x).reshape(b, SEQ, HEADS, DIM // HEADS).transpose(1, 2) for f in (self.q, self.k, self.v)
        )
        keys = padding[:, None, None, :]
        # boolean, or transformers' additive mask: 0 where attended, the dtype's minimum where padded
        minimum = torch.finfo(torch.float32).min
        mask = keys.bool() if self.boolean else (1.0 - keys.float()) * minimum
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return self.proj(out.transpose(1, 2).reshape(b, SEQ, DIM))


def _inputs(generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.randn(1, SEQ, DIM, generator=generator)
    padding = torch.ones(1, SEQ, dtype=torch.long)
    padding[:, int(torch.randint(2, SEQ, (1,), generator=generator)) :] = 0
    return x, padding


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


@pytest.mark.parametrize("boolean", [True, False], ids=["bool-mask", "additive-mask"])
def test_masked_attention_runs_int8(tmp_path: Path, boolean: bool) -> None:
    torch.manual_seed(0)
    model = MaskedAttention(boolean).eval()
    generator = torch.Generator().manual_seed(0)
    example = _inputs(generator)
    quantized = ek.quantize(model, example, calibrate=[_inputs(generator) for _ in range(8)]).model
    assert not any("scaled_dot_product" in str(n.target) for n in quantized.graph.nodes)
    onnx_path = ek.export(quantized, example, tmp_path / "attn.onnx").path
    result = ek.convert(onnx_path, tmp_path / "attn.tflite")
    assert result.quantized
    assert result.ops.get("DEQUANTIZE", 0) == 0, result.notes  # no float island anywhere
    assert result.ops["SOFTMAX"] == 1 and result.ops["BATCH_MATMUL"] == 2, result.ops
    # no float island, no requantize (the additive mask's clamp computes in float before its QUANTIZE)
    assert not [n for n in result.notes if "runs in float" in n or "requantize" in n], result.notes

    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(str(result.path))
    details = {t["index"]: t for t in interpreter.get_tensor_details()}
    for op in interpreter._get_ops_details():  # every op reading an int8 tensor writes int8
        if any(details[i]["dtype"] == np.int8 for i in op["inputs"] if i >= 0):
            assert details[op["outputs"][0]]["dtype"] == np.int8, op
    softmax = next(op for op in interpreter._get_ops_details() if op["op_name"] == "SOFTMAX")
    scale, zero_point = details[softmax["outputs"][0]]["quantization"]
    assert (scale, zero_point) == (1 / 256, -128)

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    tflite = Model.load(result.path)
    for _ in range(4):
        x, padding = _inputs(generator)
        with torch.no_grad():
            reference = quantized(x, padding).numpy()
            fp32 = model(x, padding).numpy()
        out = tflite.run([x.numpy(), padding.numpy()])
        out = out[0] if isinstance(out, list | tuple) else out
        ort_out = session.run(None, dict(zip(names, [x.numpy(), padding.numpy()], strict=True)))[0]
        assert _cosine(out, reference) >= 0.99
        assert _cosine(out, ort_out) >= 0.99
        assert _cosine(reference, fp32) >= 0.99  # the clamped mask still masks
