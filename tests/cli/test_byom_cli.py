"""Bringing your own model to the CLI: symbolic dims, --input-shapes, stages, float islands, untraceable code."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper


def edgekit(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "edgekit", *args],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **(env or {})},
    )


def _symbolic_conv(path: Path) -> Path:
    """Conv + Relu on an input with symbolic batch, height and width (as model zoos ship them)."""
    weight = numpy_helper.from_array(
        np.random.default_rng(0).normal(size=(4, 3, 3, 3)).astype(np.float32), "w"
    )
    graph = helper.make_graph(
        [
            helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
            helper.make_node("Relu", ["c"], ["y"]),
        ],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, "H", "W"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4, "H", "W"])],
        [weight],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    return path


def test_convert_symbolic_dims_needs_input_shapes_and_shows_stages(tmp_path: Path) -> None:
    src, out = _symbolic_conv(tmp_path / "m.onnx"), tmp_path / "m.tflite"
    result = edgekit("convert", str(src), str(out))
    assert result.returncode == 1 and result.stderr.strip().count("\n") == 0, result.stderr
    assert "axis 2 (H), axis 3 (W)" in result.stderr and "--input-shapes x:1x3xNxN" in result.stderr
    result = edgekit("convert", str(src), str(out), "--input-shapes", "image:1x3x8x8")
    assert result.returncode == 1 and "'image', which is not an input" in result.stderr
    result = edgekit("convert", str(src), str(out), "--input-shapes", "x:1x3x8")
    assert result.returncode == 1 and "rank 4" in result.stderr and "Traceback" not in result.stderr
    assert not out.exists()
    result = edgekit("convert", str(src), str(out), "--input-shapes", "x:1x3x12x10")
    assert result.returncode == 0, result.stderr
    for name in ("load + normalise", "translate", "write", "verify", "total"):
        assert name in result.stderr
    assert "cosine_min=1.000000" in result.stdout


@pytest.fixture(scope="module")
def island_tflite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An int8 file whose two CONV_2D run in float between DEQUANTIZE/QUANTIZE (TFLite's own debugger)."""
    from edgekit.converters.tflite.tf_import import tensorflow

    tf = tensorflow()
    tf.keras.utils.set_random_seed(0)
    inp = tf.keras.Input((8, 8, 3), batch_size=1)
    x = tf.keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inp)
    x = tf.keras.layers.Conv2D(4, 3, padding="same")(x)
    out = tf.keras.layers.Dense(3)(tf.keras.layers.GlobalAveragePooling2D()(x))
    model = tf.keras.Model(inp, out)

    def data():
        rng = np.random.default_rng(0)
        for _ in range(4):
            yield [rng.random((1, 8, 8, 3), dtype=np.float32)]

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = data
    options = tf.lite.experimental.QuantizationDebugOptions(denylisted_ops=["CONV_2D"])
    debugger = tf.lite.experimental.QuantizationDebugger(
        converter=converter, debug_dataset=data, debug_options=options
    )
    path = tmp_path_factory.mktemp("island") / "island.tflite"
    path.write_bytes(debugger.get_nondebug_quantized_model())
    return path


def test_float_ops_of_an_int8_file(island_tflite: Path) -> None:
    from edgekit.runtime.float_ops import float_ops, summary

    info = float_ops(island_tflite)
    assert info["float_ops"] == {"CONV_2D": 2} and info["conversions"] >= 2
    assert summary(info) == f"int8, 2 of {info['ops']} ops in float: CONV_2D×2"


def test_inspect_names_float_islands(island_tflite: Path, tflite_file: Path, tmp_path: Path) -> None:
    result = edgekit("inspect", str(island_tflite), "--json", str(tmp_path / "i.json"))
    assert result.returncode == 0, result.stderr
    assert "ops in float: CONV_2D×2" in " ".join(result.stdout.split())
    info = json.loads((tmp_path / "i.json").read_text())
    assert info["float_ops"] == {"CONV_2D": 2} and info["precision"].startswith("int8, 2 of ")
    result = edgekit("inspect", str(tflite_file), "--json", str(tmp_path / "f.json"))
    assert json.loads((tmp_path / "f.json").read_text())["precision"] == "float"


UNTRACEABLE = """
import torch


class Masked(torch.nn.Module):
    def forward(self, x):
        return x[x > 0.5].sum(0, keepdim=True) if x.sum() > 0 else x


def make():
    return Masked()
"""


def test_export_untraceable_is_one_line_and_debug_has_the_trace(tmp_path: Path) -> None:
    (tmp_path / "mymodels.py").write_text(UNTRACEABLE)
    env = {"PYTHONPATH": str(tmp_path)}
    args = ("export", "mymodels:make", str(tmp_path / "m.onnx"), "--input-shape", "1x3x4x4")
    result = edgekit(*args, env=env)
    assert result.returncode == 1
    line = result.stderr.strip().splitlines()[-1]
    assert "could not trace Masked at mymodels.py:7 in forward()" in line and "backbone and head" in line
    assert "\x1b" not in result.stderr and "Traceback" not in result.stderr and len(result.stderr) < 1500
    result = edgekit("--debug", *args, env=env)
    assert result.returncode != 0 and "Traceback" in result.stderr
