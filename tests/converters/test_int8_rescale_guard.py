"""An int8 ADD / SUB / MUL whose output scale LiteRT cannot rescale to is widened before the file is
written: LiteRT's ADD aborts the *process* loading such a file (``QuantizeMultiplierSmallerThanOneExp``'s
``TFLITE_CHECK_LT(multiplier, 1)``), its MUL overflows int32. Each file is loaded in a child process, so a
regression fails the test instead of killing the test run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import edgekit as ek

RUN = """
import sys
import numpy as np
from ai_edge_litert.interpreter import Interpreter, OpResolverType

interpreter = Interpreter(sys.argv[1], experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
interpreter.allocate_tensors()
detail = interpreter.get_input_details()[0]
scale, zero_point = detail["quantization"]
x = np.array(sys.argv[2:], np.float32).reshape(detail["shape"])
interpreter.set_tensor(detail["index"], np.clip(np.round(x / scale) + zero_point, -128, 127).astype(np.int8))
interpreter.invoke()
out = interpreter.get_output_details()[0]
scale, zero_point = out["quantization"]
y = (interpreter.get_tensor(out["index"]).astype(np.float32) - zero_point) * scale
print(" ".join(str(float(v)) for v in y.ravel()))
"""


def _run_in_child(path: Path, x: np.ndarray) -> np.ndarray:
    done = subprocess.run(
        [sys.executable, "-c", RUN, str(path), *map(str, x.ravel().tolist())],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"LiteRT failed on the file (rc {done.returncode}): {done.stderr[-400:]}"
    return np.array(done.stdout.split(), np.float32)


def _qdq(name: str, scale: float, zero_point: int) -> list[onnx.NodeProto]:
    return [
        helper.make_node("QuantizeLinear", [name, f"{name}_s", f"{name}_z"], [f"{name}_q"]),
        helper.make_node("DequantizeLinear", [f"{name}_q", f"{name}_s", f"{name}_z"], [f"{name}_dq"]),
    ]


def _params(name: str, scale: float, zero_point: int) -> list[onnx.TensorProto]:
    return [
        numpy_helper.from_array(np.array(scale, np.float32), f"{name}_s"),
        numpy_helper.from_array(np.array(zero_point, np.int8), f"{name}_z"),
    ]


def _model(path: Path, op: str, scales: tuple[float, float, float], constant: np.ndarray) -> Path:
    """x (QDQ) <op> a QDQ constant -> QDQ output at a chosen scale: a single int8 node with given scales."""
    (sx, sc, so) = scales
    nodes = [*_qdq("x", sx, 0), *_qdq("c", sc, 0)]
    nodes.append(helper.make_node(op, ["x_dq", "c_dq"], ["y"]))
    nodes += _qdq("y", so, 0)
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y_dq", TensorProto.FLOAT, [1, 4])],
        [
            numpy_helper.from_array(constant.astype(np.float32), "c"),
            *_params("x", sx, 0),
            *_params("c", sc, 0),
            *_params("y", so, 0),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    onnx.save(model, path)
    return path


@pytest.mark.parametrize(
    ("op", "scales", "constant"),
    [
        # the product of an all-zero constant: observed range [0, 0], the observer's minimum scale
        ("Add", (0.02, 1.0, 1.19e-7), np.zeros((1, 4))),
        ("Sub", (0.02, 1.0, 1.19e-7), np.zeros((1, 4))),
        ("Mul", (0.02, 0.5 / 127, 0.02 * (0.5 / 127) / 1e9), np.full((1, 4), 0.5)),
    ],
)
def test_degenerate_output_scale_is_widened(
    tmp_path: Path, op: str, scales: tuple, constant: np.ndarray
) -> None:
    source = _model(tmp_path / "m.onnx", op, scales, constant)
    result = ek.convert(source, tmp_path / "m.tflite", ek.ConvertConfig(verify=False))
    assert any(op.upper() in note and "widened" in note for note in result.notes), result.notes
    x = np.array([-1.0, -0.02, 0.02, 1.0], np.float32)
    out = _run_in_child(result.path, x)
    expected = {"Add": x + constant.ravel(), "Sub": x - constant.ravel(), "Mul": x * constant.ravel()}[op]
    # the degenerate output scale cannot hold these values: what matters is that LiteRT loads and runs the
    # file and saturates in the right direction (an overflowing MUL wrapped +1 * 0.5 around to negative)
    assert np.all(np.sign(out) == np.sign(expected)), (out, expected)


def test_healthy_scales_are_left_alone(tmp_path: Path) -> None:
    source = _model(tmp_path / "m.onnx", "Add", (0.02, 0.01, 0.03), np.full((1, 4), 0.5))
    result = ek.convert(source, tmp_path / "m.tflite", ek.ConvertConfig(verify=False))
    assert not [note for note in result.notes if "widened" in note]
    x = np.array([-1.0, -0.02, 0.02, 1.0], np.float32)
    assert np.allclose(_run_in_child(result.path, x), x + 0.5, atol=0.03)
