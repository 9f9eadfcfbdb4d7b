"""The training loop, metric and data container live in edgekit.training; demo keeps data + models."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import edgekit as ek
from edgekit.demo import DigitsCNN, load_digits_split
from edgekit.training import SplitData, accuracy, batches, predict, train


def test_train_learns_the_digits_and_accuracy_reads_results_too() -> None:
    d = load_digits_split()
    assert isinstance(d, SplitData) and d.input_shape == (1, 8, 8)
    torch.manual_seed(0)
    losses: list[float] = []
    model = train(DigitsCNN(), d.x_train, d.y_train, epochs=3, on_epoch=lambda e, loss: losses.append(loss))
    assert len(losses) == 3 and losses[-1] < losses[0] and not model.training
    assert accuracy(model, d.x_test, d.y_test) > 0.8
    result = ek.prune(model, d.x_train[:1], ek.PruneConfig(ratio=0.25))
    assert accuracy(result, d.x_test, d.y_test) == accuracy(result.model, d.x_test, d.y_test)
    assert predict(model, d.x_test[:5]).shape == (5, 10)


def test_split_data_is_generic_and_batches() -> None:
    data = SplitData(
        np.zeros((10, 3), np.float32), np.zeros(10, np.int64), np.zeros((2, 3), np.float32), np.zeros(2)
    )
    assert [len(b) for b in data.calibration_batches(7, batch_size=4)] == [4, 3]
    assert [len(b) for b in batches(np.zeros((5, 1)), 2)] == [2, 2, 1]


def test_old_demo_imports_warn_and_point_to_training() -> None:
    import edgekit.demo as demo

    with pytest.warns(DeprecationWarning, match=r"edgekit\.training\.train"):
        assert demo.train is train
    with pytest.warns(DeprecationWarning, match=r"edgekit\.training\.accuracy"):
        from edgekit.demo import accuracy as old_accuracy
    assert old_accuracy is accuracy
    assert demo.DigitsData is SplitData
    with pytest.raises(AttributeError):
        demo.no_such_thing  # noqa: B018
