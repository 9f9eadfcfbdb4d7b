"""16x8: every builtin the direct writer lets through with int16 activations has a LiteRT kernel.

Each case is one ONNX node between int16 QuantizeLinear / DequantizeLinear pairs (scales from the float
result, zero point 0), converted by the direct writer and run in ai-edge-litert without delegates; the
result must match ONNX Runtime's float output within a few int16 steps. An op without a 16x8 kernel
(SQUARE) is refused by name before anything is written.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

import edgekit as ek
from edgekit.runtime import Model

SHAPE = [1, 4, 6, 6]
CONSTANTS = {
    "lo": np.float32(0),
    "hi": np.float32(6),
    "shape": np.array([1, -1], np.int64),
    "axes": np.array([2, 3], np.int64),
    "pads": np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64),
    "starts": np.array([1], np.int64),
    "ends": np.array([3], np.int64),
    "axis1": np.array([1], np.int64),
    "scales": np.array([1, 1, 2, 2], np.float32),
    "split": np.array([1, 3], np.int64),
    "two": np.float32(2),
}
NODES = {
    "Add": helper.make_node("Add", ["a", "a"], ["y"]),
    "Sub": helper.make_node("Sub", ["a", "a"], ["y"]),
    "Mul": helper.make_node("Mul", ["a", "a"], ["y"]),
    "Max": helper.make_node("Max", ["a", "a"], ["y"]),
    "Sigmoid": helper.make_node("Sigmoid", ["a"], ["y"]),
    "Tanh": helper.make_node("Tanh", ["a"], ["y"]),
    "Softmax": helper.make_node("Softmax", ["a"], ["y"], axis=-1),
    "Relu": helper.make_node("Relu", ["a"], ["y"]),
    "LeakyRelu": helper.make_node("LeakyRelu", ["a"], ["y"], alpha=0.1),
    "Clip": helper.make_node("Clip", ["a", "lo", "hi"], ["y"]),
    "Transpose": helper.make_node("Transpose", ["a"], ["y"], perm=[0, 1, 3, 2]),
    "Reshape": helper.make_node("Reshape", ["a", "shape"], ["y"]),
    "Concat": helper.make_node("Concat", ["a", "a"], ["y"], axis=1),
    "MaxPool": helper.make_node("MaxPool", ["a"], ["y"], kernel_shape=[2, 2], strides=[2, 2]),
    "AveragePool": helper.make_node("AveragePool", ["a"], ["y"], kernel_shape=[2, 2], strides=[2, 2]),
    "ReduceMean": helper.make_node("ReduceMean", ["a", "axes"], ["y"], keepdims=0),
    "ReduceMax": helper.make_node("ReduceMax", ["a", "axes"], ["y"], keepdims=0),
    "ReduceSum": helper.make_node("ReduceSum", ["a", "axes"], ["y"], keepdims=0),
    "Pad": helper.make_node("Pad", ["a", "pads"], ["y"]),
    "Slice": helper.make_node("Slice", ["a", "starts", "ends", "axis1"], ["y"]),
    "Split": helper.make_node("Split", ["a", "split"], ["y", "y2"], axis=1),
    "ResizeNearest": helper.make_node("Resize", ["a", "", "scales"], ["y"], mode="nearest"),
    "ResizeLinear": helper.make_node("Resize", ["a", "", "scales"], ["y"], mode="linear"),
    "Exp": helper.make_node("Exp", ["a"], ["y"]),
    "Abs": helper.make_node("Abs", ["a"], ["y"]),
    "Neg": helper.make_node("Neg", ["a"], ["y"]),
    "Gelu": helper.make_node("Gelu", ["a"], ["y"]),
}


def _qdq(src: str, dst: str, scale: float, nodes: list, inits: list) -> None:
    inits += [
        numpy_helper.from_array(np.asarray(scale, np.float32), f"{dst}_s"),
        numpy_helper.from_array(np.asarray(0, np.int16), f"{dst}_z"),
    ]
    nodes += [
        helper.make_node("QuantizeLinear", [src, f"{dst}_s", f"{dst}_z"], [f"{dst}_q"]),
        helper.make_node("DequantizeLinear", [f"{dst}_q", f"{dst}_s", f"{dst}_z"], [dst]),
    ]


def _model(node: onnx.NodeProto, x: np.ndarray, output_scales: list[float] | None) -> onnx.ModelProto:
    nodes: list = []
    inits = [numpy_helper.from_array(np.asarray(v), k) for k, v in CONSTANTS.items() if k in node.input]
    if output_scales is None:  # the float reference
        body = onnx.NodeProto()
        body.CopyFrom(node)
        body.input[:] = ["x" if i == "a" else i for i in node.input]
        nodes.append(body)
        outputs = list(node.output)
    else:
        _qdq("x", "a", float(np.abs(x).max()) / 32767, nodes, inits)
        body = onnx.NodeProto()
        body.CopyFrom(node)
        body.output[:] = [f"{o}_f" for o in node.output]
        nodes.append(body)
        for o, scale in zip(node.output, output_scales, strict=True):
            _qdq(f"{o}_f", o, scale, nodes, inits)
        outputs = list(node.output)
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, SHAPE)],
        [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outputs],
        inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)])


@pytest.mark.parametrize("name", sorted(NODES))
def test_int16_node_runs_in_litert(name: str, tmp_path: Path) -> None:
    node = NODES[name]
    x = (np.random.default_rng(0).standard_normal(SHAPE) * 2).astype(np.float32)
    reference = _model(node, x, None)
    expected = ort.InferenceSession(reference.SerializeToString(), providers=["CPUExecutionProvider"]).run(
        None, {"x": x}
    )
    scales = [max(float(np.abs(e).max()), 1e-3) / 32767 for e in expected]
    path = tmp_path / "m.onnx"
    onnx.save(_model(node, x, scales), str(path))
    result = ek.convert(path, tmp_path / "m.tflite", verify=False)
    model = Model.load(result.path, delegate="none")
    assert model.inputs[0].file_dtype == np.int16
    got = model.run(x)
    got = got if isinstance(got, list) else [got]
    for g, e, s in zip(got, expected, scales, strict=True):
        # a few int16 steps of the output, plus the input's rounding carried through the op (EXP amplifies it)
        np.testing.assert_allclose(g, e, atol=8 * s + 5e-3 * float(np.abs(e).max()))


def test_op_without_a_16x8_kernel_runs_in_float_with_a_note(tmp_path: Path) -> None:
    """LiteRT has no int16 SQUARE: the op runs in float between DEQUANTIZE / QUANTIZE, named in the notes,
    and the file loads and computes x**2 (never a file LiteRT refuses, never a silent island)."""
    node = helper.make_node("Pow", ["a", "two"], ["y"])  # lowered to SQUARE
    x = np.random.default_rng(0).standard_normal(SHAPE).astype(np.float32)
    path = tmp_path / "m.onnx"
    scale = float((x**2).max()) / 32767
    onnx.save(_model(node, x, [scale]), str(path))
    result = ek.convert(path, tmp_path / "m.tflite", verify=False)
    assert any("SQUARE" in n and "runs in float" in n for n in result.notes), result.notes
    assert "DEQUANTIZE" in result.ops and "QUANTIZE" in result.ops, result.ops
    got = Model.load(result.path, delegate="none").run(x)
    got = got[0] if isinstance(got, list) else got
    np.testing.assert_allclose(got, x**2, atol=8 * scale + 1e-3 * float((x**2).max()))
