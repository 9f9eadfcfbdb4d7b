"""Converter misuse and broken inputs: clear errors, and never a half-written artifact."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper

import edgekit as ek
from edgekit.errors import ExportError, InputShapeError, ModelFileError, OutputPathError, UnsupportedOpError


def _onnx(
    tmp_path: Path, node: onnx.NodeProto, in_shape: list, out_shape: list, name: str = "m.onnx"
) -> Path:
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, in_shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, out_shape)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=10)
    path = tmp_path / name
    onnx.save(model, str(path))
    return path


def test_unsupported_op_names_type_node_opset_and_supported_ops(tmp_path: Path) -> None:
    path = _onnx(tmp_path, helper.make_node("Hardmax", ["x"], ["y"], name="the_hardmax"), [1, 10], [1, 10])
    with pytest.raises(UnsupportedOpError) as err:
        ek.convert(path, tmp_path / "m.tflite")
    message = str(err.value)
    assert "Hardmax" in message and "the_hardmax" in message and "opset 18" in message and "Conv" in message
    assert not (tmp_path / "m.tflite").exists()


def test_dynamic_spatial_dimensions_are_explained_and_can_be_fixed(tmp_path: Path) -> None:
    path = _onnx(tmp_path, helper.make_node("Relu", ["x"], ["y"]), ["N", 3, "H", "W"], ["N", 3, "H", "W"])
    with pytest.raises(InputShapeError, match=r"axis 2 \(H\), axis 3 \(W\).*--input-shapes x:1x3xNxN"):
        ek.convert(path, tmp_path / "m.tflite")
    result = ek.convert(path, tmp_path / "m.tflite", input_shapes={"x": (1, 3, 16, 16)})
    assert result.parity.max_abs == 0.0


class Branchy(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.mean() > 0.5:  # data-dependent Python control flow
            return x + 1
        return x - 1


def test_untraceable_model_surfaces_the_cause(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match=r"could not trace Branchy.*control flow"):
        ek.export(Branchy(), torch.rand(1, 4), tmp_path / "b.onnx")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("content", [b"", b"\x00garbage" * 100])
def test_truncated_or_non_onnx_file(tmp_path: Path, onnx_file: Path, content: bytes) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(content or onnx_file.read_bytes()[:200])
    with pytest.raises(ModelFileError):
        ek.convert(bad, tmp_path / "out.tflite")


def test_output_in_a_missing_folder_is_created(small_cnn, tmp_path: Path) -> None:
    result = ek.export(small_cnn, torch.rand(1, 1, 8, 8), tmp_path / "a" / "b" / "m.tflite")
    assert result.path.exists()


def test_unwritable_output_folder(small_cnn, tmp_path: Path) -> None:
    if os.geteuid() == 0:  # root writes anywhere: use a path whose parent is a file instead
        (tmp_path / "file").write_text("x")
        with pytest.raises(OutputPathError, match="cannot create the folder"):
            ek.export(small_cnn, torch.rand(1, 1, 8, 8), tmp_path / "file" / "m.tflite")
        return
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    with pytest.raises(OutputPathError, match="not writable"):
        ek.export(small_cnn, torch.rand(1, 1, 8, 8), locked / "m.tflite")


def test_unknown_suffix(small_cnn, tmp_path: Path) -> None:
    with pytest.raises(ExportError, match=r"\.onnx, \.tflite"):
        ek.export(small_cnn, torch.rand(1, 1, 8, 8), tmp_path / "m.pb")


def test_killed_conversion_leaves_the_existing_file_intact(onnx_file: Path, tmp_path: Path) -> None:
    target = tmp_path / "m.tflite"
    ek.convert(onnx_file, target)
    before = target.read_bytes()
    big = tmp_path / "big.onnx"
    from edgekit.demo import DigitsResNet

    ek.export(DigitsResNet(widths=(64, 128, 256)).eval(), torch.rand(1, 1, 8, 8), big)
    code = f"import edgekit as ek; ek.convert({str(big)!r}, {str(target)!r})"
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.time() + 120
    while not list(tmp_path.glob(".m.tflite.*")) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)  # wait until the converter is writing its temporary file
    assert proc.poll() is None, "the conversion finished before it could be interrupted"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert target.read_bytes() == before
    assert ek.compare(onnx_file, target, [np.zeros((1, 1, 8, 8), np.float32)]).max_abs < 1e-4


def test_every_unsupported_op_is_listed_with_count_nodes_and_advice(tmp_path: Path) -> None:
    nodes = [
        helper.make_node("NonZero", ["x"], ["nz"], name="find"),
        helper.make_node("Hardmax", ["x"], ["h1"], name="hard1"),
        helper.make_node("Hardmax", ["h1"], ["y"], name="hard2"),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 10])],
        [
            helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10]),
            helper.make_tensor_value_info("nz", TensorProto.INT64, None),
        ],
    )
    path = tmp_path / "m.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=10), str(path))
    with pytest.raises(UnsupportedOpError) as err:
        ek.convert(path, tmp_path / "m.tflite")
    message = str(err.value)
    assert "NonZero x1 (node 'find'): its output length depends on the data" in message
    assert "Hardmax x2 (node 'hard1', 'hard2')" in message
    assert not (tmp_path / "m.tflite").exists()


def test_range_with_a_data_dependent_length_names_node_and_fix(tmp_path: Path) -> None:
    nodes = [
        helper.make_node("ReduceMax", ["x"], ["limit"], keepdims=0, name="top"),
        helper.make_node("Range", ["start", "limit", "delta"], ["y"], name="the_range"),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 10])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [
            onnx.numpy_helper.from_array(np.array(0.0, np.float32), "start"),
            onnx.numpy_helper.from_array(np.array(1.0, np.float32), "delta"),
        ],
    )
    path = tmp_path / "m.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=10), str(path))
    with pytest.raises(UnsupportedOpError, match=r"Range node 'the_range'.*static shapes.*input-shapes"):
        ek.convert(path, tmp_path / "m.tflite")
