"""A model over protobuf's 2 GiB: ``ek.export`` writes the ONNX weights to a side file and runs the ONNX checker
on the file (the in-memory checker cannot serialize such a model: regnet_y_128gf failed with ``EncodeError``);
``ek.convert`` maps that side file. The 2 GiB limit is lowered here so a small model takes that path (the decision reads the
initializers' sizes: protobuf's own ``ByteSize()`` raises past 2 GiB)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import edgekit as ek
from edgekit.converters import onnx_export


def test_export_past_the_protobuf_limit_writes_checks_and_converts_a_side_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(onnx_export, "PROTOBUF_LIMIT", 2**26 + 1024)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU(), torch.nn.Conv2d(8, 4, 3)).eval()
    x = torch.rand(1, 3, 16, 16)
    exported = ek.export(model, x, tmp_path / "m.onnx")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx", "m.onnx.data"]
    assert (tmp_path / "m.onnx.data").stat().st_size >= 4 * 4 * 8 * 9  # the second conv's weight
    assert exported.parity is not None and exported.parity.max_abs < 1e-5
    converted = ek.convert(exported.path, tmp_path / "m.tflite")
    assert converted.parity is not None and converted.parity.max_abs < 1e-5
    report = ek.compare(model, converted.path, [np.random.default_rng(0).random((1, 3, 16, 16), np.float32)])
    assert report.max_abs < 1e-5
