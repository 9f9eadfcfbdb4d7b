"""``calibrate`` split by meaning: PT2E calibration in ``quantize``, TFLite's calibrator as
``convert(tflite_calibration=)``, and an error where it would do nothing (``export`` to ONNX)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import edgekit as ek
from edgekit.runtime import Model


def _calibration() -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.random((8, 1, 8, 8), dtype=np.float32) for _ in range(2)]


def test_export_to_onnx_with_calibrate_is_an_error_and_writes_nothing(small_cnn, tmp_path: Path) -> None:
    out = tmp_path / "m.onnx"
    with pytest.raises(ek.ExportError, match=r"calibrate= does nothing.*ek.quantize"):
        ek.export(small_cnn, torch.rand(1, 1, 8, 8), out, calibrate=_calibration())
    assert not out.exists()


def test_old_convert_calibrate_warns_and_still_quantizes(onnx_file: Path, tmp_path: Path) -> None:
    with pytest.warns(DeprecationWarning, match="tflite_calibration"):
        result = ek.convert(onnx_file, tmp_path / "int8.tflite", calibrate=_calibration())
    assert result.quantized and Model.load(result.path).inputs[0].file_dtype == np.int8


def test_convert_with_config_and_old_keywords(onnx_file: Path, tmp_path: Path) -> None:
    result = ek.convert(onnx_file, tmp_path / "a.tflite", ek.ConvertConfig(verify=False))
    assert result.parity is None and not result.quantized
    with pytest.warns(DeprecationWarning, match="ConvertConfig"):
        assert ek.convert(onnx_file, tmp_path / "b.tflite", verify=False).parity is None
    with pytest.raises(ek.ConversionError, match="not both"), pytest.warns(DeprecationWarning):
        ek.convert(onnx_file, tmp_path / "c.tflite", ek.ConvertConfig(), verify=False)
    with pytest.raises(ek.ConversionError, match="only"):
        ek.convert(
            onnx_file, tmp_path / "d.tflite", tflite_calibration=_calibration(), calibrate=_calibration()
        )


def test_convert_takes_an_export_result(small_cnn, tmp_path: Path) -> None:
    exported = ek.export(small_cnn, torch.rand(1, 1, 8, 8), tmp_path / "m.onnx")
    result = ek.convert(exported, tmp_path / "m.tflite")
    assert result.parity is not None and result.parity.cosine_min > 0.9999
    assert result.to_dict()["path"] == str(tmp_path / "m.tflite") and "float" in result.summary()


def test_export_config_and_old_keywords(small_cnn, tmp_path: Path) -> None:
    x = torch.rand(1, 1, 8, 8)
    assert ek.export(small_cnn, x, tmp_path / "a.onnx", ek.ExportConfig(verify=False)).parity is None
    with pytest.warns(DeprecationWarning, match="ExportConfig"):
        assert ek.export(small_cnn, x, tmp_path / "b.onnx", verify=False).parity is None
    with pytest.raises(ek.ExportError, match="opset"):
        ek.ExportConfig(opset=7)
    assert ek.ExportConfig.from_dict({"version": 1, "opset": 17}).opset == 17


def test_quantize_result_chains_into_export_and_compare(small_cnn, tmp_path: Path) -> None:
    x = torch.rand(1, 1, 8, 8)
    q = ek.quantize(small_cnn, [x.numpy()], calibrate=_calibration())
    result = ek.export(q, x, tmp_path / "q.tflite")
    assert result.quantized and result.parity is not None
    report = ek.compare(q, result.path, [_calibration()[0]])
    assert report.top1_agreement >= 0.9
