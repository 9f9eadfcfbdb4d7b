"""An int64 graph input (token ids) compared with an integer constant (RoBERTa's padding mask,
``input_ids != padding_idx``): constants are held int32, so the comparison took two integer types and
LiteRT refused EQUAL at prepare."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

import edgekit as ek
from edgekit.runtime import Model


def test_int64_ids_compared_with_a_constant(tmp_path: Path) -> None:
    nodes = [
        helper.make_node("Equal", ["ids", "pad"], ["is_pad"]),
        helper.make_node("Not", ["is_pad"], ["keep"]),
        helper.make_node("Cast", ["keep"], ["y"], to=TensorProto.FLOAT),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("ids", TensorProto.INT64, [1, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8])],
        [numpy_helper.from_array(np.array(1, np.int64), "pad")],
    )
    path = tmp_path / "m.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=10), str(path))
    ids = np.array([[0, 1, 5, 1, 7, 1, 2, 3]], np.int64)
    expected = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"ids": ids})[0]
    result = ek.convert(path, tmp_path / "m.tflite", ek.ConvertConfig(verify=False))
    np.testing.assert_array_equal(Model.load(result.path).run(ids), expected)
