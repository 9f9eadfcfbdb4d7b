"""``ek.convert`` of a QDQ file says (log + note) when the int8 .tflite drifts from its source in ONNX
Runtime below the int8 bar; a file that matches gets no such note."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import edgekit as ek

NOTE = "matches its QDQ source in ONNX Runtime only to cosine"


def test_matching_int8_file_has_no_drift_note(
    small_cnn: torch.nn.Module, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    x = torch.rand(1, 1, 8, 8)
    q = ek.quantize(small_cnn, x, calibrate=[torch.rand(16, 1, 8, 8) for _ in range(4)]).model
    onnx_path = ek.export(q, x, tmp_path / "cnn.onnx").path
    result = ek.convert(onnx_path, tmp_path / "cnn.tflite")
    assert result.quantized and result.parity is not None
    drifted = result.parity.cosine_min < 0.99
    assert not drifted, result.parity.summary()
    assert not any(NOTE in n for n in result.notes), result.notes
    assert NOTE not in caplog.text
