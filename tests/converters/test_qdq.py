"""QDQ ONNX made by onnxruntime's quantize_static (not by us) -> full-int8 TFLite with the same scales."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
import torchvision
from onnx import numpy_helper

import edgekit as ek
from edgekit.runtime import Model

SIZE = 32


@pytest.fixture(scope="module")
def qdq_model(tmp_path_factory: pytest.TempPathFactory, ort_quantize_static) -> Path:
    torch.manual_seed(0)
    model = torchvision.models.mobilenet_v2(weights=None, num_classes=10).train()
    with torch.no_grad():
        for _ in range(2):
            model(torch.rand(8, 3, SIZE, SIZE))
    folder = tmp_path_factory.mktemp("qdq")
    fp32 = ek.export(model.eval(), torch.rand(1, 3, SIZE, SIZE), folder / "fp32.onnx").path
    rng = np.random.default_rng(0)
    return ort_quantize_static(fp32, folder / "qdq.onnx", (1, 3, SIZE, SIZE), 16, rng)


def _onnx_activation_qparams(path: Path) -> set[tuple[float, int]]:
    model = onnx.load(str(path))
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    out = set()
    for node in model.graph.node:
        if node.op_type == "QuantizeLinear" and node.input[0] not in inits:
            out.add((round(float(inits[node.input[1]]), 10), int(inits[node.input[2]])))
    return out


def _onnx_weight_scales(path: Path) -> list[np.ndarray]:
    model = onnx.load(str(path))
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    return [
        inits[n.input[1]]
        for n in model.graph.node
        if n.op_type == "DequantizeLinear" and n.input[0] in inits and inits[n.input[0]].dtype == np.int8
    ]


def test_qdq_becomes_full_int8_with_identical_scales(qdq_model: Path, tmp_path: Path) -> None:
    from ai_edge_litert.interpreter import Interpreter

    result = ek.convert(qdq_model, tmp_path / "int8.tflite")
    assert result.quantized
    interp = Interpreter(model_path=str(result.path))
    details = interp.get_tensor_details()
    assert (
        interp.get_input_details()[0]["dtype"] == np.int8
        and interp.get_output_details()[0]["dtype"] == np.int8
    )
    # every activation (scale, zero point) in the .tflite is one of the ONNX file's, and all ONNX ones appear
    tfl_act = {
        (round(float(d["quantization"][0]), 10), int(d["quantization"][1]))
        for d in details
        if d["dtype"] == np.int8 and len(d["quantization_parameters"]["scales"]) == 1
    }
    onnx_act = _onnx_activation_qparams(qdq_model)
    assert tfl_act <= onnx_act and onnx_act <= tfl_act | {max(onnx_act)}, tfl_act ^ onnx_act
    # every per-channel weight scale vector of the ONNX file is in the .tflite, exactly
    tfl_w = [
        d["quantization_parameters"]["scales"]
        for d in details
        if d["dtype"] == np.int8 and len(d["quantization_parameters"]["scales"]) > 1
    ]
    onnx_w = _onnx_weight_scales(qdq_model)
    assert len(tfl_w) == len([w for w in onnx_w if w.size > 1])
    remaining = [np.asarray(w, np.float32) for w in tfl_w]
    for scales in onnx_w:
        hit = next(
            i
            for i, t in enumerate(remaining)
            if t.shape == scales.shape and np.allclose(t, scales, rtol=1e-6, atol=0)
        )
        remaining.pop(hit)


def test_qdq_tflite_agrees_with_onnxruntime(qdq_model: Path, tmp_path: Path) -> None:
    result = ek.convert(qdq_model, tmp_path / "int8.tflite")
    x = np.random.default_rng(1).random((8, 3, SIZE, SIZE), dtype=np.float32)
    report = ek.compare(qdq_model, result.path, [x])
    step = Model.load(result.path).outputs[0].quantization[0]
    assert report.top1_agreement >= 0.75 and report.max_abs <= 6 * step, report.summary()
