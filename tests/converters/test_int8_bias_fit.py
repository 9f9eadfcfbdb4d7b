"""An int8 conv whose output channel has all-zero weights: PT2E gives that channel the smallest scale
(~1.19e-7), so its bias in int32 (``bias / (input scale x weight scale)``) is out of range. EfficientNet-Lite0's
stem has two such channels; the int32 cast wrapped to INT_MIN. The writer widens that channel's weight scale
until the bias fits, says so in the notes, and the file matches ONNX Runtime's unfused QDQ graph
(its fused QLinearConv overflows too)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

import edgekit as ek
from edgekit.errors import ConversionError
from edgekit.runtime import Model

S_X, S_Y, Z_Y = 0.02, 0.05, -128


def _dead_channel_conv(path: Path, weight_scale: np.ndarray | None = None) -> Path:
    weights = np.zeros((2, 1, 1, 1), np.int8)
    weights[0] = 100
    constants = {
        "sx": np.float32(S_X),
        "zx": np.int8(0),
        "wq": weights,
        "ws": np.asarray([0.01, 1.1920929e-07], np.float32) if weight_scale is None else weight_scale,
        "b": np.asarray([0.5, 7.0], np.float32),
        "sy": np.float32(S_Y),
        "zy": np.int8(Z_Y),
    }
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "sx", "zx"], ["xq"]),
        helper.make_node("DequantizeLinear", ["xq", "sx", "zx"], ["xd"]),
        helper.make_node("DequantizeLinear", ["wq", "ws"], ["w"], axis=0),
        helper.make_node("Conv", ["xd", "w", "b"], ["c"], name="stem"),
        helper.make_node("QuantizeLinear", ["c", "sy", "zy"], ["cq"]),
        helper.make_node("DequantizeLinear", ["cq", "sy", "zy"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "dead_channel",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 4, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, 4, 4])],
        [numpy_helper.from_array(np.asarray(v), k) for k, v in constants.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=9)
    path.write_bytes(model.SerializeToString())
    return path


def test_bias_of_a_dead_channel_fits_int32_and_matches_onnxruntime(tmp_path: Path) -> None:
    source = _dead_channel_conv(tmp_path / "dead.onnx")
    x = np.random.default_rng(0).uniform(0, 2, (1, 1, 4, 4)).astype(np.float32)
    options = ort.SessionOptions()  # no QDQ fusion: ORT's own int32 bias overflows the same way
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(str(source), options, providers=["CPUExecutionProvider"])
    reference = session.run(None, {"x": x})[0]
    assert np.allclose(reference[0, 1], 7.0, atol=S_Y)  # the dead channel is its bias
    result = ek.convert(source, tmp_path / "dead.tflite", ek.ConvertConfig(verify=False))
    assert any("widened so that the int32 bias fits" in n and "all zero" in n for n in result.notes)
    out = np.asarray(Model.load(result.path)(x)[0])
    out = out.transpose(0, 3, 1, 2) if out.shape[-1] == 2 else out
    assert np.abs(out - reference).max() <= S_Y + 1e-6


def test_bias_that_cannot_fit_a_per_tensor_weight_scale_is_named_before_writing(tmp_path: Path) -> None:
    source = _dead_channel_conv(
        tmp_path / "dead.onnx", np.float32(1.1920929e-07)
    )  # one scale for both channels
    with pytest.raises(ConversionError, match=r"int32 bias .* overflows .* re-calibrate"):
        ek.convert(source, tmp_path / "dead.tflite", ek.ConvertConfig(verify=False))
    assert not (tmp_path / "dead.tflite").exists()
