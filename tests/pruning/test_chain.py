"""The whole compression chain on real digits: prune -> KD fine-tune -> QAT -> TFLite int8 -> runtime."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

import edgekit as ek
from edgekit.demo import DigitsCNN, load_digits_split
from edgekit.runtime import Model
from edgekit.training import accuracy, train


@dataclass(frozen=True)
class ChainAccuracy:
    fp32: float  # the unpruned teacher, PyTorch
    int8_torch: float  # pruned + KD + QAT, finalized PyTorch model
    int8_tflite: float  # the same, as a full-integer .tflite run by edgekit.runtime
    params_ratio: float


def _chain(folder: Path, *, widths: tuple[int, int, int], epochs: tuple[int, int, int]) -> ChainAccuracy:
    teacher_epochs, kd_epochs, qat_epochs = epochs
    data = load_digits_split()
    example = torch.from_numpy(data.x_train[:1])
    teacher = train(DigitsCNN(widths=widths), data.x_train, data.y_train, epochs=teacher_epochs)

    result = ek.prune(teacher, example, ek.PruneConfig(ratio=0.5, round_to=8))
    student = result.model
    kd = ek.Distiller(teacher, temperature=4.0)
    train(student, data.x_train, data.y_train, epochs=kd_epochs, lr=2e-3, loss_fn=kd)
    qat = ek.prepare_qat(student, example)
    train(qat, data.x_train, data.y_train, epochs=qat_epochs, lr=3e-4, loss_fn=kd)
    int8 = ek.finalize(qat)
    exported = ek.export(int8, example, folder / "pruned_int8.tflite")
    assert exported.quantized
    return ChainAccuracy(
        fp32=accuracy(teacher, data.x_test, data.y_test),
        int8_torch=accuracy(int8, data.x_test, data.y_test),
        int8_tflite=accuracy(Model.load(exported.path), data.x_test, data.y_test),
        params_ratio=result.params_ratio,
    )


def test_pruned_kd_qat_int8_is_within_one_point_of_unpruned_fp32(tmp_path: Path) -> None:
    # ~45 s, nearly all in finalize + TFLite conversion: a smaller model would not be faster
    acc = _chain(tmp_path, widths=(32, 64, 128), epochs=(8, 4, 2))
    assert acc.params_ratio < 0.35
    assert abs(acc.int8_tflite - acc.int8_torch) <= 0.01, "the .tflite answers like the PyTorch int8 model"
    assert acc.int8_tflite >= acc.fp32 - 0.01
