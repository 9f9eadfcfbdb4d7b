"""The whole compression chain on real digits: prune -> KD fine-tune -> QAT -> TFLite int8 -> runtime."""

from __future__ import annotations

import copy
from pathlib import Path

import torch

import edgekit as ek
from edgekit.demo import DigitsCNN, accuracy, load_digits_split, train
from edgekit.runtime import Model


def test_prune_distill_qat_tflite_int8(tmp_path: Path) -> None:
    torch.manual_seed(0)
    data = load_digits_split()
    example = torch.from_numpy(data.x_train[:1])
    teacher = train(DigitsCNN(), data.x_train, data.y_train, epochs=8)
    fp32 = accuracy(teacher, data.x_test, data.y_test)

    student = copy.deepcopy(teacher)
    result = ek.prune(student, example, ratio=0.5, round_to=8)
    assert result.params_ratio < 0.35
    train(
        student, data.x_train, data.y_train, epochs=4, lr=2e-3, loss_fn=ek.Distiller(teacher, temperature=4.0)
    )

    qat = ek.prepare_qat(student, example)
    train(qat, data.x_train, data.y_train, epochs=2, lr=3e-4, loss_fn=ek.Distiller(teacher, temperature=4.0))
    int8 = ek.export(ek.finalize(qat), example, tmp_path / "pruned_int8.tflite")
    assert int8.quantized
    model = Model.load(int8.path)
    assert accuracy(model, data.x_test, data.y_test) >= fp32 - 0.01
