"""converters/verify.py: the parity bars, and the QDQ reference through edgekit.runtime."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import edgekit as ek
from edgekit.converters import verify
from edgekit.converters.parity import ParityReport
from edgekit.runtime import Model


def _report(cosine: float, max_abs: float = 0.0) -> ParityReport:
    return ParityReport(max_abs, max_abs, cosine, cosine, 1.0, 1, 1.0)


def test_float_bar() -> None:
    assert verify.check_parity(_report(1.0, 1e-4), False, "the file") == []
    with pytest.raises(ek.ParityError, match=r"the file differs from PyTorch: max abs 0\.01"):
        verify.check_parity(_report(1.0, 1e-2), False, "the file")


def test_int8_bar_uses_the_floor_only_below_the_cosine_bar() -> None:
    calls: list[int] = []

    def floor() -> float:
        calls.append(1)
        return 0.97

    assert verify.check_parity(_report(0.995), True, "f", floor) == [] and not calls
    assert "noise floor" in verify.check_parity(_report(0.95), True, "f", floor)[0]
    with pytest.raises(ek.ParityError, match="further off than the model's own noise floor"):
        verify.check_parity(_report(0.9), True, "f", floor)
    with pytest.raises(ek.ParityError):
        verify.check_parity(_report(0.95), True, "f")  # no floor: below the bar fails


def test_old_names_stay_importable_from_converters_api() -> None:
    from edgekit.converters import api

    assert api.noise_floor is verify.noise_floor and api.qdq_reference is verify.qdq_reference
    assert api._check_parity is verify.check_parity and api.INT8_COSINE == verify.INT8_COSINE


def test_qdq_reference_is_a_runtime_model_with_basic_optimizations(small_cnn, tmp_path: Path) -> None:
    x = torch.rand(1, 1, 8, 8)
    rng = np.random.default_rng(0)
    q = ek.quantize(small_cnn, x, calibrate=[rng.random((8, 1, 8, 8), dtype=np.float32)])
    path = ek.export(q, x, tmp_path / "q.onnx").path
    reference = verify.qdq_reference(path)
    assert isinstance(reference, Model) and reference.backend == "onnxruntime" and reference.delegate == "cpu"
    batch = rng.random((4, 1, 8, 8), dtype=np.float32)
    report = ek.compare(q, reference, [batch])
    assert report.cosine_min > 0.99
    tflite = ek.export(q, x, tmp_path / "q.tflite")  # an ExportResult stands for its file
    layers = ek.compare(path, tflite, [batch], ek.CompareConfig(per_layer=True))
    assert layers.layers and layers.top1_agreement >= 0.75


def test_compare_raises_specific_errors() -> None:
    x = [np.ones((2, 4), np.float32)]
    with pytest.raises(ek.OutputMismatchError, match="1 and 2 outputs"):
        ek.compare(lambda a: a, lambda a: [a, a], x)
    with pytest.raises(ek.OutputMismatchError, match="output shapes differ"):
        ek.compare(lambda a: a, lambda a: a[:, :2], x)
    with pytest.raises(ek.InputSpecError, match="inputs is empty"):
        ek.compare(lambda a: a, lambda a: a, [])
