"""PTQ and QAT of a model that lives on a CUDA GPU: captured, calibrated and trained there, exported from a
CPU copy (the caller's model stays on the GPU). Skipped where no GPU exists (CI); run on a GPU machine."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch

import edgekit as ek
from edgekit.demo import DigitsData
from edgekit.quantization import qat_step

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def _on_gpu(model: torch.nn.Module) -> torch.nn.Module:
    return copy.deepcopy(model).cuda()


def _devices(model: torch.nn.Module) -> set[str]:
    return {t.device.type for t in [*model.parameters(), *model.buffers()]}


def test_ptq_of_a_gpu_model_exports_and_agrees(trained_cnn, digits: DigitsData, tmp_path: Path) -> None:
    example = torch.from_numpy(digits.x_train[:1])  # CPU example and numpy calibration batches
    q = ek.quantize(
        _on_gpu(trained_cnn), example, calibrate=[digits.x_train[i : i + 64] for i in (0, 64)]
    ).model
    assert _devices(q) == {"cuda"}
    result = ek.export(q, example, tmp_path / "ptq.onnx")
    assert _devices(q) == {"cuda"}, "export must not move the caller's model"
    report = ek.compare(q, result.path, [digits.x_test])
    assert report.top1_agreement >= 0.99, report.summary()


def test_qat_trained_on_gpu_finalizes_and_exports(trained_cnn, digits: DigitsData, tmp_path: Path) -> None:
    example = torch.from_numpy(digits.x_train[:1])
    qat = ek.prepare_qat(_on_gpu(trained_cnn), example)
    opt = torch.optim.SGD(qat.parameters(), lr=1e-3, momentum=0.9)
    x, y = torch.from_numpy(digits.x_train).cuda(), torch.from_numpy(digits.y_train).cuda()
    for step, i in enumerate(range(0, len(x) - 1, 64)):
        loss = torch.nn.functional.cross_entropy(qat(x[i : i + 64]), y[i : i + 64])
        opt.zero_grad()
        loss.backward()
        opt.step()
        qat_step(qat, step)
    final = ek.finalize(qat)
    result = ek.export(final, example, tmp_path / "qat.onnx")
    assert result.quantized and result.parity is not None
    report = ek.compare(final, result.path, [digits.x_test])
    assert report.top1_agreement >= 0.99, report.summary()
