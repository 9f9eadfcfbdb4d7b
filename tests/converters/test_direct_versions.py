"""Builtin op versions written by the direct writer: single IR operators, and an int8 file made by
onnxruntime's quantize_static (per-channel CONV_2D and FULLY_CONNECTED) that LiteRT loads and runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import edgekit as ek
from edgekit.converters.tflite.direct.ir import Graph, Operator, Quant
from edgekit.converters.tflite.direct.versions import builtin_version
from edgekit.runtime import Model


def _t(graph: Graph, shape: tuple[int, ...], dtype: type, channels: int = 1) -> object:
    quant = (
        Quant(np.full(channels, 0.1, np.float32), np.zeros(channels, np.int64))
        if dtype is not np.float32
        else None
    )
    return graph.tensor(shape, dtype, quant=quant)


@pytest.mark.parametrize(
    ("code", "types", "fields", "expected"),
    [
        ("CONV_2D", (np.float32, np.float32, np.float32), {}, 1),
        ("CONV_2D", (np.int8, np.int8, np.int8), {}, 3),
        ("CONV_2D", (np.float32, "per-channel int8", np.float32), {}, 5),
        ("DEPTHWISE_CONV_2D", (np.int8, np.int8, np.int8), {}, 3),
        ("DEPTHWISE_CONV_2D", (np.float32, np.float32, np.float32), {"dilationHFactor": 2}, 2),
        ("FULLY_CONNECTED", (np.int8, "per-channel int8", np.int8), {}, 4),
        ("FULLY_CONNECTED", (np.float32, "per-channel int8", np.float32), {}, 12),
        ("FULLY_CONNECTED", (np.float32, np.float32, np.float32), {"keepNumDims": True}, 5),
        ("ADD", (np.int8, np.int8, np.int8), {"fusedActivationFunction": 1}, 2),
        ("ADD", (np.int16, np.int16, np.int16), {"potScaleInt16": False}, 3),
        ("SOFTMAX", (np.int16, None, np.int16), {}, 3),
        ("BROADCAST_TO", (np.float32, None, np.float32), {}, 2),
        ("RESHAPE", (np.int8, None, np.int8), {}, 1),
    ],
)
def test_version_follows_types_and_options(code: str, types: tuple, fields: dict, expected: int) -> None:
    graph = Graph()
    x_type, w_type, y_type = types
    x = _t(graph, (1, 4, 4, 8), x_type)
    inputs = [x]
    if w_type is not None:
        per_channel = w_type == "per-channel int8"
        shape = (8, 8) if code == "FULLY_CONNECTED" else (8, 1, 1, 8)
        inputs.append(_t(graph, shape, np.int8 if per_channel else w_type, channels=8 if per_channel else 1))
        if code in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
            inputs.append(graph.tensor((8,), np.int32 if x_type is np.int8 else np.float32))
    op = Operator(code, inputs, [_t(graph, (1, 4, 4, 8), y_type)], fields=fields)
    assert builtin_version(op) == expected


def test_grouped_convolution_is_version_6() -> None:
    graph = Graph()
    x, w = graph.tensor((1, 4, 4, 8), np.float32), graph.tensor((8, 3, 3, 4), np.float32)
    op = Operator("CONV_2D", [x, w, None], [graph.tensor((1, 4, 4, 8), np.float32)])
    assert builtin_version(op) == 6


class _ConvFC(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.fc = torch.nn.Linear(8 * 8 * 8, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.conv(x)).flatten(1))


def test_int8_file_states_int8_versions_and_runs(tmp_path: Path, ort_quantize_static) -> None:
    torch.manual_seed(0)
    fp32 = ek.export(_ConvFC().eval(), torch.rand(1, 3, 8, 8), tmp_path / "fp32.onnx").path
    rng = np.random.default_rng(0)

    qdq = ort_quantize_static(fp32, tmp_path / "qdq.onnx", (1, 3, 8, 8), 8, rng)
    result = ek.convert(qdq, tmp_path / "m.tflite")
    from ai_edge_litert import schema_py_generated as schema

    model = schema.Model.GetRootAsModel(result.path.read_bytes(), 0)
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    versions = {
        names[model.OperatorCodes(i).BuiltinCode()]: model.OperatorCodes(i).Version()
        for i in range(model.OperatorCodesLength())
    }
    assert result.quantized
    assert versions["CONV_2D"] == 3 and versions["FULLY_CONNECTED"] == 4, versions
    out = Model.load(result.path).run(rng.random((1, 3, 8, 8), dtype=np.float32))
    assert out.shape == (1, 10) and np.isfinite(out).all()
