"""IsNaN (the dynamo exporter writes it for ``scaled_dot_product_attention``'s masking in `transformers`
encoders): EQUAL(x, x) negated, since NaN is the one value unequal to itself."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper

import edgekit as ek
from edgekit.runtime import Model


def test_isnan_finds_the_nans(tmp_path: Path) -> None:
    nodes = [
        helper.make_node("IsNaN", ["x"], ["nan"]),
        helper.make_node("Cast", ["nan"], ["y"], to=TensorProto.FLOAT),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 6])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 6])],
    )
    path = tmp_path / "m.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=10), str(path))
    x = np.array([[0.0, np.nan, -1.5, np.inf, np.nan, 3.0]], np.float32)
    expected = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    result = ek.convert(path, tmp_path / "m.tflite", ek.ConvertConfig(verify=False))
    got = Model.load(result.path).run(x)
    np.testing.assert_array_equal(got, expected)
    assert expected.tolist() == [[0.0, 1.0, 0.0, 0.0, 1.0, 0.0]]
