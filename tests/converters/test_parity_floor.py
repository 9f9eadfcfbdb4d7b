"""The int8 parity bar of ``export``: a file must match the quantized PyTorch model to cosine 0.99, or stay
within (twice) the distance that model moves from itself when rounding ties fall the other way (its noise
floor); anything worse is a ParityError naming both numbers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import edgekit as ek
from edgekit.converters.api import INT8_COSINE, _check_parity, noise_floor
from edgekit.demo import load_digits_split
from edgekit.demo.models import DigitsCNN
from edgekit.errors import ParityError
from edgekit.training import train


@pytest.fixture(scope="module")
def quantized_cnn() -> tuple[torch.nn.Module, np.ndarray]:
    d = load_digits_split()
    torch.manual_seed(0)
    model = train(DigitsCNN(), d.x_train, d.y_train, epochs=3)
    q = ek.quantize(model, torch.from_numpy(d.x_train[:1]), calibrate=[d.x_train[:128]]).model
    return q, d.x_test[:1]


def test_noise_floor_of_a_stable_model_is_one(quantized_cnn) -> None:
    q, x = quantized_cnn
    assert noise_floor(q, x) > 0.9999  # so the floor cannot excuse a real error in a sane model


def test_file_off_by_more_than_the_noise_floor_is_a_parity_error(quantized_cnn) -> None:
    q, x = quantized_cnn
    reference = q(torch.from_numpy(x)).detach().numpy()
    off = reference + np.linspace(-1, 1, reference.size).reshape(reference.shape) * np.abs(reference).max()
    report = ek.compare(lambda _: reference, lambda _: off, [x])
    assert report.cosine_min < INT8_COSINE
    with pytest.raises(ParityError, match="noise floor"):
        _check_parity(report, True, "the file", lambda: noise_floor(q, x))


def test_file_within_the_noise_floor_passes_with_a_note(quantized_cnn) -> None:
    q, x = quantized_cnn
    reference = q(torch.from_numpy(x)).detach().numpy()
    off = (
        reference
        + np.linspace(-1, 1, reference.size).reshape(reference.shape) * 0.1 * np.abs(reference).max()
    )
    report = ek.compare(lambda _: reference, lambda _: off, [x])
    assert report.cosine_min < INT8_COSINE
    notes = _check_parity(report, True, "the file", lambda: report.cosine_min - 0.01)
    assert notes and "noise floor" in notes[0]
