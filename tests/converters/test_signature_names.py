"""The TFLite signature names its inputs and outputs after the ONNX graph's, with either writer, and each
name reads the tensor it names (TensorFlow's converter reorders the subgraph outputs)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import edgekit as ek
from edgekit.converters.api import Writer


def _two_outputs(path: Path) -> Path:
    nodes = [helper.make_node("Relu", ["x"], ["logits"]), helper.make_node("Sigmoid", ["x"], ["boxes.0"])]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [
            helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 4]),
            helper.make_tensor_value_info("boxes.0", TensorProto.FLOAT, [1, 4]),
        ],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=10), str(path))
    return path


@pytest.mark.parametrize("writer", [Writer.DIRECT, Writer.TF])
def test_signature_outputs_carry_the_onnx_output_names(writer: Writer, tmp_path: Path) -> None:
    from ai_edge_litert.interpreter import Interpreter

    source = _two_outputs(tmp_path / "m.onnx")
    result = ek.convert(source, tmp_path / "m.tflite", ek.ConvertConfig(writer=writer))
    interpreter = Interpreter(model_path=str(result.path))
    signature = interpreter.get_signature_list()["serving_default"]
    assert signature == {"inputs": ["x"], "outputs": ["boxes.0", "logits"]}
    x = np.array([[-2.0, -0.5, 0.5, 2.0]], np.float32)
    out = interpreter.get_signature_runner("serving_default")(x=x)
    np.testing.assert_allclose(out["logits"], np.maximum(x, 0), atol=1e-6)
    np.testing.assert_allclose(out["boxes.0"], 1 / (1 + np.exp(-x)), atol=1e-6)
