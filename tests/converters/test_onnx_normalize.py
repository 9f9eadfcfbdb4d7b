"""ONNX files from other exporters: TorchScript (dynamo=False) graphs, external data, symbolic dims."""

from __future__ import annotations

import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

import edgekit as ek
from edgekit.converters.onnx_normalize import load_onnx, normalize
from edgekit.errors import InputShapeError, ModelFileError
from edgekit.runtime import Model


class SmallCNN(torch.nn.Module):
    """Conv-BN-ReLU, global pool and a reshape by the runtime batch: Shape/Gather/Concat in TorchScript ONNX."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.bn = torch.nn.BatchNorm2d(8)
        self.fc = torch.nn.Linear(8, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.bn(self.conv(x))).mean((2, 3))
        return self.fc(y.reshape(x.shape[0], -1))


def _torchscript_onnx(path: Path, opset: int, dynamic: dict | None = None) -> Path:
    torch.manual_seed(0)
    model = SmallCNN().eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (torch.rand(1, 3, 16, 16),),
            str(path),
            dynamo=False,
            opset_version=opset,
            input_names=["x"],
            output_names=["y"],
            dynamic_axes=dynamic,
        )
    return path


@pytest.mark.parametrize("opset", [11, 13, 17])
def test_torchscript_export_converts_with_parity(tmp_path: Path, opset: int) -> None:
    src = _torchscript_onnx(tmp_path / "m.onnx", opset, {"x": {0: "batch"}})
    ops = Counter(n.op_type for n in onnx.load(str(src)).graph.node)
    assert ops["Constant"] + ops["Shape"] > 0  # what the translator used to stop at
    normalized = Counter(n.op_type for n in normalize(onnx.load(str(src))).graph.node)
    assert normalized["Constant"] == 0 and normalized["Shape"] == 0
    result = ek.convert(src, tmp_path / "m.tflite")
    assert result.parity is not None and result.parity.within(cosine=0.9999, rel_max_abs=1e-4)
    x = np.random.default_rng(1).random((1, 3, 16, 16), dtype=np.float32)
    np.testing.assert_allclose(Model.load(result.path)(x), Model.load(src)(x), atol=1e-5)


def test_normalize_keeps_qdq_pairs() -> None:
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(np.arange(-4, 4, dtype=np.int8).reshape(2, 4), "w_q")
    scale = numpy_helper.from_array(np.array(0.1, np.float32), "s")
    nodes = [
        helper.make_node("DequantizeLinear", ["w_q", "s"], ["w"]),
        helper.make_node("MatMul", ["x", "w"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
        [weight, scale],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    assert [n.op_type for n in normalize(model).graph.node] == ["DequantizeLinear", "MatMul"]


def _with_side_file(tmp_path: Path) -> Path:
    """A folder holding ``m.onnx`` whose every weight is in the side file ``m.onnx.data``."""
    src = _torchscript_onnx(tmp_path / "plain.onnx", 13)
    folder = tmp_path / "ext"
    folder.mkdir()
    onnx.save_model(
        onnx.load(str(src)),
        str(folder / "m.onnx"),
        save_as_external_data=True,
        location="m.onnx.data",
        size_threshold=0,
    )
    return folder


def test_external_data_loads_and_a_missing_side_file_is_named(tmp_path: Path) -> None:
    folder = _with_side_file(tmp_path)
    assert (folder / "m.onnx.data").stat().st_size > 1000
    assert len(load_onnx(folder / "m.onnx").graph.initializer[0].raw_data) > 0
    result = ek.convert(folder / "m.onnx", tmp_path / "m.tflite")
    assert result.parity is not None and result.parity.max_abs < 1e-5
    (folder / "m.onnx.data").rename(folder / "elsewhere.data")
    with pytest.raises(ModelFileError, match=r"side file\(s\) m\.onnx\.data .*copy them there"):
        ek.convert(folder / "m.onnx", tmp_path / "again.tflite")
    assert not (tmp_path / "again.tflite").exists()


def test_convert_maps_side_file_weights_and_names_a_truncated_one(tmp_path: Path) -> None:
    """ek.convert reads external weights through a memory map (not into the protobuf: a model over 2 GiB is
    not held twice); a side file shorter than its tensors say is a ModelFileError naming the tensor."""
    folder = _with_side_file(tmp_path)
    mapped = load_onnx(folder / "m.onnx", map_external=True)
    weights = [t for t in mapped.graph.initializer if t.data_location == onnx.TensorProto.EXTERNAL]
    assert weights and not any(t.raw_data for t in weights)
    from edgekit.converters.onnx_proto import to_array

    loaded = {t.name: onnx.numpy_helper.to_array(t) for t in load_onnx(folder / "m.onnx").graph.initializer}
    for tensor in weights:
        array = to_array(tensor)
        assert not array.flags.owndata and not array.flags.writeable  # a view of the mapped file
        np.testing.assert_array_equal(array, loaded[tensor.name])
    result = ek.convert(folder / "m.onnx", tmp_path / "m.tflite")
    assert result.parity is not None and result.parity.max_abs < 1e-5
    data = folder / "m.onnx.data"
    data.write_bytes(data.read_bytes()[:-8])
    with pytest.raises(
        ModelFileError,
        match=r"of m\.onnx could not be read \(tensor .* needs bytes up to \d+ of m\.onnx\.data",
    ):
        ek.convert(folder / "m.onnx", tmp_path / "again.tflite")
    assert not (tmp_path / "again.tflite").exists()


def test_corrupt_onnx_file_is_a_model_file_error(tmp_path: Path) -> None:
    src = _torchscript_onnx(tmp_path / "m.onnx", 13)
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(src.read_bytes()[:400])
    with pytest.raises(ModelFileError, match="truncated or corrupt"):
        ek.convert(broken, tmp_path / "broken.tflite")
    assert not (tmp_path / "broken.tflite").exists()


def test_symbolic_dims_need_shapes_and_bad_shapes_are_named(tmp_path: Path) -> None:
    src = _torchscript_onnx(tmp_path / "m.onnx", 13, {"x": {0: "batch", 2: "height", 3: "width"}})
    with pytest.raises(
        InputShapeError, match=r"axis 2 \(height\), axis 3 \(width\).*--input-shapes x:1x3xNxN"
    ):
        ek.convert(src, tmp_path / "m.tflite")
    with pytest.raises(InputShapeError, match=r"'image', which is not an input.*its inputs are x"):
        ek.convert(src, tmp_path / "m.tflite", input_shapes="image:1x3x16x16")
    with pytest.raises(InputShapeError, match=r"rank 4.*rank 3"):
        ek.convert(src, tmp_path / "m.tflite", input_shapes={"x": (1, 3, 16)})
    with pytest.raises(InputShapeError, match="fixed size 3 on axis 1"):
        ek.convert(src, tmp_path / "m.tflite", input_shapes="x:1x4x16x16")
    assert not (tmp_path / "m.tflite").exists()
    result = ek.convert(src, tmp_path / "m.tflite", input_shapes="x:1x3x24x20")
    assert Model.load(result.path).inputs[0].shape == (1, 3, 24, 20)
    assert result.parity is not None and result.parity.max_abs < 1e-5


@pytest.mark.slow
def test_torchvision_resnet18_torchscript_export_converts(tmp_path: Path) -> None:
    import torchvision

    model = torchvision.models.resnet18(weights=None).train()
    with torch.no_grad():  # non-trivial BatchNorm statistics
        for _ in range(2):
            model(torch.rand(4, 3, 64, 64))
    model.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model, (torch.rand(1, 3, 64, 64),), str(tmp_path / "r.onnx"), dynamo=False, opset_version=13
        )
    result = ek.convert(tmp_path / "r.onnx", tmp_path / "r.tflite")
    assert result.parity is not None and result.parity.within(cosine=0.9999, rel_max_abs=1e-3)


def test_ek_export_file_skips_normalisation_with_the_same_tflite(onnx_file: Path, tmp_path: Path) -> None:
    from edgekit.converters.onnx_normalize import already_normal
    from edgekit.converters.tflite.convert import onnx_to_tflite
    from edgekit.runtime.metadata import METADATA_KEY

    proto = load_onnx(onnx_file)
    assert already_normal(proto) and normalize(proto) is proto
    foreign = onnx.ModelProto()
    foreign.CopyFrom(proto)
    for prop in [p for p in foreign.metadata_props if p.key == METADATA_KEY]:
        foreign.metadata_props.remove(prop)
    assert not already_normal(foreign)
    with_constant = onnx.ModelProto()
    with_constant.CopyFrom(proto)
    with_constant.graph.node.insert(
        0,
        onnx.helper.make_node(
            "Constant", [], ["c"], value=onnx.numpy_helper.from_array(np.ones(2, np.float32))
        ),
    )
    assert not already_normal(with_constant)
    skipped, full = tmp_path / "skipped.tflite", tmp_path / "full.tflite"
    skipped.write_bytes(onnx_to_tflite(proto).flatbuffer)
    full.write_bytes(onnx_to_tflite(normalize(foreign)).flatbuffer)
    x = np.random.default_rng(0).random((1, 1, 8, 8), dtype=np.float32)
    np.testing.assert_array_equal(Model.load(skipped).run(x), Model.load(full).run(x))


NO_ONNX_SCRIPT = """
import sys
import edgekit as ek
ek.convert(sys.argv[1], sys.argv[2], ek.ConvertConfig(verify=False))
print(sorted(m for m in ("onnx", "onnxscript", "ml_dtypes", "tensorflow") if m in sys.modules))
"""


def test_converting_an_ek_export_file_imports_neither_onnx_nor_onnxscript(
    onnx_file: Path, tmp_path: Path
) -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", NO_ONNX_SCRIPT, str(onnx_file), str(tmp_path / "m.tflite")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "[]", done.stdout
