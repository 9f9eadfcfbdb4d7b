"""The direct TFLite writer (no TensorFlow): single-node ONNX graphs against ONNX Runtime, the fusion
passes on one-op graphs, external buffers, no TensorFlow import, bad input, and a cross-check against
``writer="tf"``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

import edgekit as ek
from edgekit.converters.tflite.direct.convert import build_graph, write
from edgekit.converters.tflite.direct.emitter import Emitter, NoDirectLoweringError
from edgekit.converters.tflite.direct.ir import Graph
from edgekit.converters.tflite.direct.passes import optimize
from edgekit.converters.tflite.direct.serialize import serialize
from edgekit.errors import ConversionError, UnsupportedOpError
from edgekit.runtime import Model
from edgekit.runtime.tflite_flatbuffer import read_metadata, validate

RNG = np.random.default_rng(0)


def _model(
    nodes: list, in_shape: list, out_shape: list | None, inits: dict | None = None, opset: int = 18
) -> onnx.ModelProto:
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, in_shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, out_shape)],
        [numpy_helper.from_array(np.asarray(v), k) for k, v in (inits or {}).items()],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=10)


def _w(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


# (ONNX node, input shape, initializers): each a one-node graph, converted directly and run by LiteRT
SINGLE_NODES = {
    "Conv": (
        helper.make_node("Conv", ["x", "w", "b"], ["y"], pads=[1, 1, 1, 1]),
        [1, 3, 8, 8],
        {"w": _w(4, 3, 3, 3), "b": _w(4)},
    ),
    "Conv_stride_pad": (
        helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1], strides=[2, 2]),
        [1, 3, 8, 8],
        {"w": _w(4, 3, 3, 3)},
    ),
    "Conv_depthwise": (
        helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1], group=3),
        [1, 3, 8, 8],
        {"w": _w(3, 1, 3, 3)},
    ),
    "Conv_grouped": (
        helper.make_node("Conv", ["x", "w"], ["y"], group=2),
        [1, 4, 6, 6],
        {"w": _w(6, 2, 1, 1)},
    ),
    "ConvTranspose": (
        helper.make_node("ConvTranspose", ["x", "w"], ["y"], strides=[2, 2]),
        [1, 3, 5, 5],
        {"w": _w(3, 2, 2, 2)},
    ),
    "Gemm": (helper.make_node("Gemm", ["x", "w", "b"], ["y"], transB=1), [2, 6], {"w": _w(5, 6), "b": _w(5)}),
    "MatMul": (helper.make_node("MatMul", ["x", "w"], ["y"]), [1, 4, 6], {"w": _w(6, 3)}),
    "MaxPool": (
        helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
        [1, 2, 8, 8],
        {},
    ),
    "AveragePool": (
        helper.make_node("AveragePool", ["x"], ["y"], kernel_shape=[2, 2], strides=[2, 2]),
        [1, 2, 8, 8],
        {},
    ),
    "MaxPool_ceil": (
        helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1),
        [1, 2, 10, 10],
        {},
    ),
    "AveragePool_ceil": (
        helper.make_node("AveragePool", ["x"], ["y"], kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1),
        [1, 2, 10, 9],
        {},
    ),
    "GlobalAveragePool": (helper.make_node("GlobalAveragePool", ["x"], ["y"]), [1, 3, 5, 5], {}),
    "BatchNormalization": (
        helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"]),
        [1, 3, 4, 4],
        {"s": _w(3), "b": _w(3), "m": _w(3), "v": np.abs(_w(3)) + 0.5},
    ),
    "Relu": (helper.make_node("Relu", ["x"], ["y"]), [2, 5], {}),
    "Sigmoid": (helper.make_node("Sigmoid", ["x"], ["y"]), [2, 5], {}),
    "Tanh": (helper.make_node("Tanh", ["x"], ["y"]), [2, 5], {}),
    "HardSwish": (helper.make_node("HardSwish", ["x"], ["y"]), [2, 5], {}),
    "HardSigmoid": (helper.make_node("HardSigmoid", ["x"], ["y"], alpha=1 / 6, beta=0.5), [2, 5], {}),
    "LeakyRelu": (helper.make_node("LeakyRelu", ["x"], ["y"], alpha=0.1), [2, 5], {}),
    "PRelu": (helper.make_node("PRelu", ["x", "s"], ["y"]), [1, 3, 4, 4], {"s": _w(3, 1, 1)}),
    "PRelu_one_slope": (
        helper.make_node("PRelu", ["x", "s"], ["y"]),
        [1, 3, 4, 4],
        {"s": np.float32([0.25])},
    ),
    "PRelu_2d": (helper.make_node("PRelu", ["x", "s"], ["y"]), [2, 5], {"s": _w(5)}),
    "Gelu": (helper.make_node("Gelu", ["x"], ["y"]), [2, 5], {}),
    "Softmax": (helper.make_node("Softmax", ["x"], ["y"], axis=1), [1, 3, 4, 4], {}),
    "Exp": (helper.make_node("Exp", ["x"], ["y"]), [2, 5], {}),
    "Abs": (helper.make_node("Abs", ["x"], ["y"]), [2, 5], {}),
    "Neg": (helper.make_node("Neg", ["x"], ["y"]), [2, 5], {}),
    "Clip": (
        helper.make_node("Clip", ["x", "lo", "hi"], ["y"]),
        [2, 5],
        {"lo": np.float32(-0.5), "hi": np.float32(0.7)},
    ),
    "Add": (helper.make_node("Add", ["x", "c"], ["y"]), [1, 3, 4, 4], {"c": _w(4)}),
    "Sub": (helper.make_node("Sub", ["c", "x"], ["y"]), [2, 5], {"c": _w(5)}),
    "Mul": (helper.make_node("Mul", ["x", "c"], ["y"]), [1, 3, 4, 4], {"c": _w(3, 1, 1)}),
    "Div": (helper.make_node("Div", ["x", "c"], ["y"]), [2, 5], {"c": np.abs(_w(5)) + 1}),
    "Max": (helper.make_node("Max", ["x", "c"], ["y"]), [2, 5], {"c": _w(5)}),
    "Pow": (helper.make_node("Pow", ["x", "c"], ["y"]), [2, 5], {"c": np.float32(2.0)}),
    "ReduceMean": (
        helper.make_node("ReduceMean", ["x", "a"], ["y"], keepdims=1),
        [1, 3, 4, 4],
        {"a": np.array([2, 3])},
    ),
    "ReduceSum": (
        helper.make_node("ReduceSum", ["x", "a"], ["y"], keepdims=0),
        [2, 3, 5],
        {"a": np.array([1])},
    ),
    "ReduceMax": (
        helper.make_node("ReduceMax", ["x", "a"], ["y"], keepdims=0),
        [2, 3, 5],
        {"a": np.array([2])},
    ),
    "Reshape": (helper.make_node("Reshape", ["x", "s"], ["y"]), [2, 6], {"s": np.array([3, 4])}),
    "Flatten": (helper.make_node("Flatten", ["x"], ["y"]), [1, 3, 2, 2], {}),
    "Transpose": (helper.make_node("Transpose", ["x"], ["y"], perm=[0, 2, 1]), [2, 3, 4], {}),
    "Concat": (helper.make_node("Concat", ["x", "c"], ["y"], axis=1), [1, 2, 3, 3], {"c": _w(1, 1, 3, 3)}),
    "Split": (helper.make_node("Split", ["x", "s"], ["y", "z"], axis=1), [2, 6], {"s": np.array([2, 4])}),
    "Slice": (
        helper.make_node("Slice", ["x", "st", "en", "ax", "sp"], ["y"]),
        [2, 8],
        {"st": np.array([1]), "en": np.array([7]), "ax": np.array([1]), "sp": np.array([2])},
    ),
    "Gather": (helper.make_node("Gather", ["x", "i"], ["y"], axis=1), [2, 5], {"i": np.array([4, 0, -1])}),
    "Gather_scalar": (helper.make_node("Gather", ["x", "i"], ["y"], axis=1), [2, 5, 3], {"i": np.array(-1)}),
    "Gather_run": (
        helper.make_node("Gather", ["x", "i"], ["y"], axis=2),
        [2, 3, 5],
        {"i": np.array([1, 2, 3])},
    ),
    "Squeeze": (helper.make_node("Squeeze", ["x", "a"], ["y"]), [2, 1, 5], {"a": np.array([1])}),
    "Unsqueeze": (helper.make_node("Unsqueeze", ["x", "a"], ["y"]), [2, 5], {"a": np.array([1])}),
    "Pad": (helper.make_node("Pad", ["x", "p"], ["y"]), [2, 5], {"p": np.array([0, 1, 0, 2])}),
    "Resize": (
        helper.make_node(
            "Resize",
            ["x", "", "s"],
            ["y"],
            mode="nearest",
            coordinate_transformation_mode="asymmetric",
            nearest_mode="floor",
        ),
        [1, 2, 3, 3],
        {"s": np.array([1, 1, 2, 2], np.float32)},
    ),
    "Tile": (helper.make_node("Tile", ["x", "r"], ["y"]), [2, 3], {"r": np.array([2, 1])}),
    "Expand": (helper.make_node("Expand", ["x", "s"], ["y"]), [1, 3], {"s": np.array([4, 3])}),
    "LayerNormalization": (
        helper.make_node("LayerNormalization", ["x", "g", "b"], ["y"], axis=-1),
        [2, 4, 8],
        {"g": _w(8), "b": _w(8)},
    ),
    "Einsum": (
        helper.make_node("Einsum", ["x", "w"], ["y"], equation="bij,jk->bik"),
        [2, 3, 4],
        {"w": _w(4, 5)},
    ),
    "Where": (
        helper.make_node("Where", ["c", "x", "z0"], ["y"]),
        [2, 5],
        {"c": RNG.random((2, 5)) > 0.5, "z0": _w(5)},
    ),
    "Conv1d": (
        helper.make_node("Conv", ["x", "w", "b"], ["y"], pads=[1, 1], strides=[2]),
        [1, 3, 10],
        {"w": _w(4, 3, 3), "b": _w(4)},
    ),
    "Conv1d_depthwise": (
        helper.make_node("Conv", ["x", "w"], ["y"], pads=[2, 2], group=3, dilations=[2]),
        [1, 3, 10],
        {"w": _w(3, 1, 3)},
    ),
    "Conv3d": (
        helper.make_node("Conv", ["x", "w", "b"], ["y"], pads=[1, 1, 1, 1, 1, 1], strides=[1, 2, 2]),
        [1, 2, 4, 5, 5],
        {"w": _w(3, 2, 3, 3, 3), "b": _w(3)},
    ),
    "ConvTranspose1d": (
        helper.make_node("ConvTranspose", ["x", "w"], ["y"], strides=[2]),
        [1, 3, 5],
        {"w": _w(3, 2, 2)},
    ),
    "MaxPool1d": (
        helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[3], strides=[2], pads=[1, 1]),
        [1, 2, 9],
        {},
    ),
    "AveragePool1d": (
        helper.make_node("AveragePool", ["x"], ["y"], kernel_shape=[2], strides=[2]),
        [1, 2, 8],
        {},
    ),
    "GlobalAveragePool1d": (helper.make_node("GlobalAveragePool", ["x"], ["y"]), [1, 3, 7], {}),
    "InstanceNormalization": (
        helper.make_node("InstanceNormalization", ["x", "s", "b"], ["y"]),
        [2, 3, 4, 4],
        {"s": _w(3), "b": _w(3)},
    ),
    "InstanceNormalization1d": (
        helper.make_node("InstanceNormalization", ["x", "s", "b"], ["y"], epsilon=1e-3),
        [2, 3, 6],
        {"s": _w(3), "b": _w(3)},
    ),
    "GroupNormalization": (
        helper.make_node("GroupNormalization", ["x", "s", "b"], ["y"], num_groups=2),
        [2, 4, 3, 3],
        {"s": _w(4), "b": _w(4)},
    ),
    "GatherElements": (
        helper.make_node("GatherElements", ["x", "i"], ["y"], axis=1),
        [3, 4],
        {"i": np.array([[0, 3], [-1, 2], [1, 1]])},
    ),
    "CumSum": (helper.make_node("CumSum", ["x", "a"], ["y"]), [2, 5], {"a": np.array(1)}),
    "CumSum_exclusive_reverse_nchw": (
        helper.make_node("CumSum", ["x", "a"], ["y"], exclusive=1, reverse=1),
        [1, 3, 4, 4],
        {"a": np.array(1)},
    ),
    "TopK": (helper.make_node("TopK", ["x", "k"], ["y", "i"]), [2, 6], {"k": np.array([3])}),
    "TopK_smallest_axis0": (
        helper.make_node("TopK", ["x", "k"], ["y", "i"], axis=0, largest=0),
        [5, 3],
        {"k": np.array([2])},
    ),
}
# outputs that are not float, and ops checked at another opset than 18
OUTPUT_TYPES = {"TopK": [TensorProto.FLOAT, TensorProto.INT64]}
OPSETS = {"Gelu": 20, "GroupNormalization": 21}


@pytest.mark.parametrize("name", sorted(SINGLE_NODES))
def test_single_onnx_node_matches_onnxruntime(name: str, tmp_path: Path) -> None:
    node, in_shape, inits = SINGLE_NODES[name]
    model = _model([node], in_shape, None, inits, opset=OPSETS.get(node.op_type, 18))
    del model.graph.output[:]
    types = OUTPUT_TYPES.get(node.op_type, [TensorProto.FLOAT] * len(node.output))
    model.graph.output.extend(
        [helper.make_tensor_value_info(o, t, None) for o, t in zip(node.output, types, strict=True)]
    )
    path = tmp_path / "m.onnx"
    onnx.save(model, str(path))
    x = RNG.standard_normal(in_shape).astype(np.float32)
    expected = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})
    result = ek.convert(path, tmp_path / "m.tflite", verify=False)
    got = Model.load(result.path).run(x)
    got = got if isinstance(got, list | tuple) else [got]
    for g, e in zip(got, expected, strict=True):
        np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-5 * max(1.0, float(np.abs(e).max())))
    # an NCHW graph input is held NHWC: a 4-D input flattened into the output is reordered once; 1-D / 3-D
    # windows and TopK along another axis than the last move their axis there and back
    moves = name in ("Transpose", "Einsum", "Flatten", "TopK_smallest_axis0") or "1d" in name or "3d" in name
    assert "TRANSPOSE" not in result.ops or moves, result.ops


def test_constant_gather_is_a_slice_that_xnnpack_takes(tmp_path: Path) -> None:
    """ViT's q/k/v split and class token gather one constant index: written as STRIDED_SLICE (+ the RESHAPE
    dropping the axis, merged into the following RESHAPE), every node runs in XNNPACK; GATHER did not."""
    nodes = [
        helper.make_node("Gather", ["x", "i"], ["g"], axis=0),
        helper.make_node("Reshape", ["g", "shape"], ["y"]),
    ]
    inits = {"i": np.array(1), "shape": np.array([2, 16])}
    path = tmp_path / "m.onnx"
    onnx.save(_model(nodes, [3, 4, 8], [2, 16], inits), str(path))
    x = RNG.standard_normal((3, 4, 8)).astype(np.float32)
    result = ek.convert(path, tmp_path / "m.tflite", verify=False)
    assert result.ops == {"STRIDED_SLICE": 1, "RESHAPE": 1}
    model = Model.load(result.path, backend="litert", delegate="xnnpack", threads=1)
    assert model.delegate_coverage()["delegated_nodes"] == 2
    np.testing.assert_array_equal(np.asarray(model.run(x)).reshape(2, 16), x[1].reshape(2, 16))


def _run(graph: Graph, x: np.ndarray, tmp_path: Path) -> np.ndarray:
    from ai_edge_litert.interpreter import Interpreter

    path = tmp_path / "g.tflite"
    path.write_bytes(bytes(serialize(graph)))
    interp = Interpreter(model_path=str(path))
    interp.allocate_tensors()
    interp.set_tensor(interp.get_input_details()[0]["index"], x)
    interp.invoke()
    return interp.get_tensor(interp.get_output_details()[0]["index"])


def _one_conv(extra: str) -> tuple[Graph, list[str]]:
    graph = Graph()
    em = Emitter(graph)
    x = graph.tensor((1, 6, 6, 3), np.float32, name="x")
    graph.inputs.append(x)
    y = em.nn.conv2d(x, em.constant(_w(3, 3, 3, 4)), strides=1, padding="SAME")
    if "mul" in extra:
        y = y * _w(4)
    if "bias" in extra:
        y = em.nn.bias_add(y, _w(4))
    if "relu6" in extra:
        y = em.nn.relu6(y)
    graph.outputs.append(y)
    return graph, [op.code for op in graph.operators]


@pytest.mark.parametrize(
    ("extra", "fused"),
    [
        ("bias", {"bias": 1}),
        ("mul+bias", {"mul_into_conv": 1, "bias": 1}),
        ("bias+relu6", {"bias": 1, "activation": 1}),
    ],
)
def test_fusion_passes_leave_one_conv_with_the_same_output(extra: str, fused: dict, tmp_path: Path) -> None:
    graph, before = _one_conv(extra)
    x = RNG.random((1, 6, 6, 3), dtype=np.float32)
    reference = _run(graph, x, tmp_path)
    counts = optimize(graph)
    assert len(before) > 1 and [op.code for op in graph.operators] == ["CONV_2D"]
    assert {k: v for k, v in counts.items() if v and k != "dead"} == fused
    np.testing.assert_allclose(_run(graph, x, tmp_path), reference, rtol=1e-5, atol=1e-5)


def test_hard_swish_spelling_becomes_one_builtin(tmp_path: Path) -> None:
    graph = Graph()
    em = Emitter(graph)
    x = graph.tensor((2, 7), np.float32, name="x")
    graph.inputs.append(x)
    graph.outputs.append(x * em.nn.relu6(x + 3.0) * (1.0 / 6.0))
    xs = (RNG.standard_normal((2, 7)) * 4).astype(np.float32)
    reference = _run(graph, xs, tmp_path)
    assert optimize(graph)["hard_swish"] == 1 and [op.code for op in graph.operators] == ["HARD_SWISH"]
    np.testing.assert_allclose(_run(graph, xs, tmp_path), reference, rtol=1e-6, atol=1e-6)


def _optimized_codes(graph: Graph, x: np.ndarray, tmp_path: Path) -> list[str]:
    """Optimize ``graph`` in place; the output must not change. Returns the op codes left."""
    reference = _run(graph, x, tmp_path)
    optimize(graph)
    np.testing.assert_allclose(_run(graph, x, tmp_path), reference, rtol=1e-5, atol=1e-5)
    return [op.code for op in graph.operators]


def test_transpose_moving_only_unit_axes_is_a_reshape_merged_with_the_next(tmp_path: Path) -> None:
    """``nn.MultiheadAttention``'s ``[1, L, C] -> [L, 1, C]`` moves no bytes: one RESHAPE is left."""
    graph = Graph()
    em = Emitter(graph)
    x = graph.tensor((1, 5, 16), np.float32, name="x")
    graph.inputs.append(x)
    graph.outputs.append(em.reshape(em.transpose(x, [1, 0, 2]), [5, 2, 8]))
    assert _optimized_codes(graph, _w(1, 5, 16), tmp_path) == ["RESHAPE"]


def test_regrouped_leading_axes_before_a_projection_are_dropped(tmp_path: Path) -> None:
    """A ``keepNumDims`` FULLY_CONNECTED read only by a RESHAPE takes the un-regrouped input."""
    graph = Graph()
    em = Emitter(graph)
    x = graph.tensor((1, 5, 16), np.float32, name="x")
    graph.inputs.append(x)
    projected = em.matmul(em.transpose(x, [1, 0, 2]), em.constant(_w(16, 48)))
    graph.outputs.append(em.reshape(projected, [1, 5, 3, 16]))
    assert _optimized_codes(graph, _w(1, 5, 16), tmp_path) == ["FULLY_CONNECTED", "RESHAPE"]


def test_attention_key_transpose_becomes_the_batch_matmul_adjoint(tmp_path: Path) -> None:
    """``q @ (k.transpose(-2, -1).reshape(...) * scale)``: the TRANSPOSE goes, BATCH_MATMUL gets adj_y."""
    graph = Graph()
    em = Emitter(graph)
    x = graph.tensor((1, 2, 5, 8), np.float32, name="x")
    graph.inputs.append(x)
    keys = em.reshape(em.transpose(em.reshape(x, [2, 5, 8]), [0, 2, 1]), [1, 2, 8, 5]) * 0.35
    graph.outputs.append(em.matmul(x, keys))
    assert _optimized_codes(graph, _w(1, 2, 5, 8), tmp_path) == ["MUL", "BATCH_MATMUL"]
    assert graph.operators[-1].fields == {"adjY": True}


def test_constants_past_the_threshold_go_after_the_flatbuffer(tmp_path: Path) -> None:
    w, b = _w(32, 64), _w(32)
    model = _model(
        [helper.make_node("Gemm", ["x", "w", "b"], ["y"], transB=1)], [1, 64], [1, 32], {"w": w, "b": b}
    )
    built = build_graph(model)
    inline = bytes(write(built, {"edgekit": b"{}"}))
    external = bytes(write(built, {"edgekit": b"{}"}, external_threshold=0))
    validate(external)
    assert read_metadata(external)["edgekit"] == b"{}"
    assert len(external) > len(inline)  # the data follows the tables, aligned
    outs = []
    for name, data in (("inline", inline), ("external", external)):
        (tmp_path / f"{name}.tflite").write_bytes(data)
        from ai_edge_litert.interpreter import Interpreter

        interp = Interpreter(model_path=str(tmp_path / f"{name}.tflite"))
        interp.allocate_tensors()
        interp.set_tensor(interp.get_input_details()[0]["index"], np.ones((1, 64), np.float32))
        interp.invoke()
        outs.append(interp.get_tensor(interp.get_output_details()[0]["index"]))
    np.testing.assert_array_equal(outs[0], outs[1])
    np.testing.assert_allclose(outs[1], np.ones((1, 64), np.float32) @ w.T + b, rtol=1e-5, atol=1e-5)
    streamed = write(built, {"edgekit": b"{}"}, external_threshold=0)
    assert streamed.tail and streamed.size == len(external)
    streamed.write_to(tmp_path / "streamed.tflite")  # buffer by buffer, never joined
    assert (tmp_path / "streamed.tflite").read_bytes() == external


def test_no_direct_lowering_names_node_op_and_the_tf_writer_before_writing(tmp_path: Path) -> None:
    model = _model(
        [helper.make_node("Einsum", ["x", "w"], ["y"], equation="...ij,...jk->...ik", name="the_einsum")],
        [2, 3, 4],
        [2, 3, 5],
        {"w": _w(2, 4, 5)},
    )
    path = tmp_path / "m.onnx"
    onnx.save(model, str(path))
    with pytest.raises(NoDirectLoweringError) as err:
        ek.convert(path, tmp_path / "m.tflite")
    message = str(err.value)
    assert "Einsum" in message and "the_einsum" in message and "writer='tf'" in message
    assert isinstance(err.value, UnsupportedOpError)
    assert not (tmp_path / "m.tflite").exists() and [p.name for p in tmp_path.iterdir()] == ["m.onnx"]


def _qdq_conv_file(tail: list[onnx.NodeProto], extra: dict[str, np.ndarray], path: Path) -> Path:
    """An int8 QDQ 1x1 Conv named ``the_conv`` writing ``conv_out``, followed by ``tail`` (ending in ``y``)."""
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "s", "z"], ["xq"]),
        helper.make_node("DequantizeLinear", ["xq", "s", "z"], ["xd"]),
        helper.make_node("DequantizeLinear", ["wq", "ws"], ["w"], axis=0),
        helper.make_node("Conv", ["xd", "w"], ["conv_out"], name="the_conv"),
        *tail,
    ]
    inits = {
        "s": np.float32(0.02),
        "z": np.int8(0),
        "wq": RNG.integers(-127, 127, (2, 1, 1, 1)).astype(np.int8),
        "ws": np.full(2, 0.01, np.float32),
        **extra,
    }
    onnx.save(_model(nodes, [1, 1, 4, 4], [1, 2, 4, 4], inits), str(path))
    return path


def test_float_tensor_inside_an_int8_model_is_named(tmp_path: Path) -> None:
    path = _qdq_conv_file([helper.make_node("Sin", ["conv_out"], ["y"])], {}, tmp_path / "q.onnx")
    with pytest.raises(ConversionError, match="has no quantization parameters") as err:
        ek.convert(path, tmp_path / "q.tflite")
    assert "CONV_2D" in str(err.value) or "SIN" in str(err.value)
    assert not (tmp_path / "q.tflite").exists()


@pytest.mark.parametrize("bad_scale", [0.0, np.inf])
def test_scale_tflite_cannot_represent_is_named_before_writing(bad_scale: float, tmp_path: Path) -> None:
    tail = [
        helper.make_node("QuantizeLinear", ["conv_out", "bad", "z"], ["cq"]),
        helper.make_node("DequantizeLinear", ["cq", "bad", "z"], ["y"]),
    ]
    path = _qdq_conv_file(tail, {"bad": np.float32(bad_scale)}, tmp_path / "q.onnx")
    with pytest.raises(ConversionError, match="TFLite needs finite positive scales") as err:
        ek.convert(path, tmp_path / "q.tflite")
    assert "Conv node 'the_conv'" in str(err.value) and "re-calibrate" in str(err.value)
    assert not (tmp_path / "q.tflite").exists()


def _max_error_vs_onnxruntime(onnx_path: Path, tflite_path: Path) -> float:
    """Largest absolute difference of the .tflite from ONNX Runtime on the QDQ file (one 1x1x4x4 input)."""
    x = RNG.standard_normal((1, 1, 4, 4)).astype(np.float32) * 2
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    expected = session.run(None, {"x": x})[0]
    got = np.asarray(Model.load(tflite_path).run(x)).reshape(expected.shape)
    return float(np.abs(got - expected).max())


def test_relu_observed_apart_from_its_producer_becomes_a_fused_activation(tmp_path: Path) -> None:
    """PyTorch can observe an op and the ReLU after it at two scales (MobileOne's branch sum): the
    producer writes at the ReLU's scale with RELU fused, instead of RELU + a requantize after it."""
    tail = [
        helper.make_node("QuantizeLinear", ["conv_out", "s_conv", "z"], ["cq"]),
        helper.make_node("DequantizeLinear", ["cq", "s_conv", "z"], ["cd"]),
        helper.make_node("Relu", ["cd"], ["r"]),
        helper.make_node("QuantizeLinear", ["r", "s_relu", "z_relu"], ["rq"]),
        helper.make_node("DequantizeLinear", ["rq", "s_relu", "z_relu"], ["y"]),
    ]
    extra = {"s_conv": np.float32(0.05), "s_relu": np.float32(0.03), "z_relu": np.int8(-128)}
    path = _qdq_conv_file(tail, extra, tmp_path / "q.onnx")
    result = ek.convert(path, tmp_path / "q.tflite", verify=False)
    assert result.ops == {"CONV_2D": 1}, result.ops
    assert _max_error_vs_onnxruntime(path, result.path) <= 0.03 * 1.01  # one step of the ReLU's scale


def test_a_value_rounded_twice_is_a_requantize_named_in_the_notes(tmp_path: Path) -> None:
    """Two QuantizeLinear in a row at different scales (the quantized model rounds twice): the file does the
    same with one QUANTIZE int8 -> int8, and the notes say where and how to save it."""
    tail = [
        helper.make_node("QuantizeLinear", ["conv_out", "s1", "z"], ["q1"]),
        helper.make_node("DequantizeLinear", ["q1", "s1", "z"], ["d1"]),
        helper.make_node("QuantizeLinear", ["d1", "s2", "z"], ["q2"]),
        helper.make_node("DequantizeLinear", ["q2", "s2", "z"], ["y"]),
    ]
    path = _qdq_conv_file(tail, {"s1": np.float32(0.05), "s2": np.float32(0.07)}, tmp_path / "q.onnx")
    result = ek.convert(path, tmp_path / "q.tflite", verify=False)
    assert result.ops == {"CONV_2D": 1, "QUANTIZE": 1}, result.ops
    assert any("rounds this value twice" in n and "0.05 and 0.07" in n for n in result.notes), result.notes
    assert _max_error_vs_onnxruntime(path, result.path) <= 0.07 * 1.01


NO_TF_SCRIPT = """
import sys, torch
import edgekit as ek
from edgekit.demo.models import DigitsCNN
torch.manual_seed(0)
model, x = DigitsCNN().eval(), torch.rand(1, 1, 16, 16)
out = sys.argv[1]
ek.export(model, x, out + "/m.onnx", verify=False)
r1 = ek.convert(out + "/m.onnx", out + "/m.tflite")
r2 = ek.export(model, x, out + "/e.tflite")
assert r1.parity.within(cosine=0.9999, rel_max_abs=1e-3) and r2.parity.within(cosine=0.9999, rel_max_abs=1e-3)
print("TF_IMPORTED" if any(m == "tensorflow" or m.startswith("tensorflow.") for m in sys.modules) else "NO_TF")
"""


def test_default_conversion_never_imports_tensorflow(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", NO_TF_SCRIPT, str(tmp_path)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "NO_TF", done.stdout


def test_converting_an_onnx_file_imports_neither_torch_nor_tensorflow(tmp_path: Path) -> None:
    """A user's one-off ``ek.convert`` must not pay for ``import torch`` (seconds cold) or TensorFlow."""
    model = _model([helper.make_node("Gemm", ["x", "w"], ["y"], transB=1)], [1, 8], [1, 4], {"w": _w(4, 8)})
    onnx.save(model, str(tmp_path / "m.onnx"))
    code = (
        "import sys; import edgekit as ek; ek.convert(sys.argv[1] + '/m.onnx', sys.argv[1] + '/m.tflite'); "
        "print(sorted(m for m in ('torch', 'torchao', 'tensorflow') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "[]", done.stdout


@pytest.mark.parametrize(
    "name",
    [
        "digits_cnn_fp32",
        pytest.param("mobilenet_v3_small_fp32", marks=pytest.mark.slow),
        pytest.param("digits_resnet_int8", marks=pytest.mark.slow),
    ],
)
def test_direct_and_tf_writers_give_the_same_outputs(name: str, tmp_path: Path) -> None:
    pytest.importorskip("tensorflow")
    import torch
    import torchvision

    from edgekit.demo import load_digits_split, train
    from edgekit.demo.models import DigitsCNN, DigitsResNet

    torch.manual_seed(0)
    if name == "mobilenet_v3_small_fp32":
        model = torchvision.models.mobilenet_v3_small(weights=None, num_classes=10).train()
        with torch.no_grad():
            model(torch.rand(4, 3, 32, 32))
        model, x = model.eval(), torch.rand(1, 3, 32, 32)
    elif name == "digits_cnn_fp32":
        model, x = DigitsCNN().eval(), torch.rand(1, 1, 16, 16)
    else:
        d = load_digits_split()
        model = train(DigitsResNet(), d.x_train, d.y_train, epochs=1)
        x = torch.from_numpy(d.x_train[:1])
        model = ek.quantize(model, x, calibrate=[d.x_train[:64]])
    src = ek.export(model, x, tmp_path / "m.onnx", verify=False).path
    direct = ek.convert(src, tmp_path / "d.tflite", verify=False)
    via_tf = ek.convert(src, tmp_path / "t.tflite", ek.ConvertConfig(writer="tf", verify=False))
    a, b = Model.load(direct.path), Model.load(via_tf.path)
    xs = RNG.random((4, *x.shape[1:]), dtype=np.float32)
    ya = np.stack([a.run(xs[i : i + 1]) for i in range(4)])
    yb = np.stack([b.run(xs[i : i + 1]) for i in range(4)])
    if name.endswith("int8"):
        np.testing.assert_array_equal(ya, yb)
    else:
        assert np.abs(ya - yb).max() <= 1e-5 * np.abs(yb).max()
    fallback = lambda m: m.delegate_coverage()["total_nodes"] - m.delegate_coverage()["delegated_nodes"]  # noqa: E731
    assert fallback(a) <= fallback(b)
    assert sum(direct.ops.values()) <= sum(via_tf.ops.values())
