"""A DigitsCNN and a DigitsResNet trained on scikit-learn's digits once per session (8x8, a few epochs)."""

from __future__ import annotations

import pytest
import torch

from edgekit.demo import DigitsCNN, DigitsData, DigitsResNet, load_digits_split
from edgekit.training import accuracy, train


@pytest.fixture(scope="session")
def digits() -> DigitsData:
    return load_digits_split()


def _trained(cls: type, digits: DigitsData) -> torch.nn.Module:
    torch.manual_seed(0)
    return train(cls(), digits.x_train, digits.y_train, epochs=8)


@pytest.fixture(scope="session")
def trained_cnn(digits: DigitsData) -> torch.nn.Module:
    return _trained(DigitsCNN, digits)


@pytest.fixture(scope="session")
def trained_resnet(digits: DigitsData) -> torch.nn.Module:
    return _trained(DigitsResNet, digits)


@pytest.fixture(scope="session")
def fp32_accuracy(trained_cnn: torch.nn.Module, digits: DigitsData) -> float:
    return accuracy(trained_cnn, digits.x_test, digits.y_test)
