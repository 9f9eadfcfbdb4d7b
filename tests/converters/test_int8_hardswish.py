"""The int8 HARD_SWISH the direct writer emits for a QDQ HardSwish matches ONNX Runtime on every int8 input
within one output step (mobilenet_v3_small's first HardSwish scales). mobilenet_v3_small's int8 file is ~13
output steps from ONNX Runtime at the logits: the stem CONV_2D's requantization rounds 1 step apart on a few
elements and each HardSwish multiplies that by its input/output scale ratio (x1.86 here) and slope (up to
1.5); the kernel itself is not the source, which this test pins."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
from onnx import TensorProto, helper

import edgekit as ek
from edgekit.runtime import Model

S_IN, Z_IN, S_OUT, Z_OUT = 0.0293427761644125, 2, 0.015807585790753365, -104


def _qdq_hardswish(path: Path) -> Path:
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "si", "zi"], ["xq"]),
        helper.make_node("DequantizeLinear", ["xq", "si", "zi"], ["xd"]),
        helper.make_node("HardSwish", ["xd"], ["h"]),
        helper.make_node("QuantizeLinear", ["h", "so", "zo"], ["hq"]),
        helper.make_node("DequantizeLinear", ["hq", "so", "zo"], ["y"]),
    ]
    constants = [
        helper.make_tensor("si", TensorProto.FLOAT, [], [S_IN]),
        helper.make_tensor("zi", TensorProto.INT8, [], [Z_IN]),
        helper.make_tensor("so", TensorProto.FLOAT, [], [S_OUT]),
        helper.make_tensor("zo", TensorProto.INT8, [], [Z_OUT]),
    ]
    graph = helper.make_graph(
        nodes,
        "hardswish",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 256])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 256])],
        constants,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=9)
    path.write_bytes(model.SerializeToString())
    return path


def test_int8_hardswish_is_within_one_step_of_onnxruntime_on_every_input(tmp_path: Path) -> None:
    source = _qdq_hardswish(tmp_path / "hardswish.onnx")
    x = ((np.arange(-128, 128) - Z_IN) * S_IN).astype(np.float32)[None]
    reference = ort.InferenceSession(str(source), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    result = ek.convert(source, tmp_path / "hardswish.tflite", ek.ConvertConfig(verify=False))
    assert result.ops == {"HARD_SWISH": 1}
    for delegate in ("none", "xnnpack"):
        out = np.asarray(Model.load(result.path, delegate=delegate)(x)[0]).reshape(1, -1)
        steps = np.abs(out - reference) / S_OUT
        assert steps.max() <= 1.0 + 1e-4 and (steps > 0.5).sum() <= 2, (delegate, steps.max())
