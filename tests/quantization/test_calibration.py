"""Calibration data problems and calibrators: warnings that name the risk, errors before any work."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

import edgekit as ek
from edgekit.errors import QuantizationError
from edgekit.quantization import QuantConfig
from edgekit.quantization.observers import MeanMinMaxObserver


class Branchy(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.sum() > 0:  # torch.export cannot capture this: an error about it means capture ran first
            return x * 2
        return x


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_calibration_fails_before_capture(bad: float) -> None:
    x = np.random.default_rng(0).random((4, 4)).astype(np.float32)
    x[2, 1] = bad
    with pytest.raises(QuantizationError, match="batch 1 contains NaN or inf"):
        ek.quantize(Branchy(), torch.rand(1, 4), calibrate=[x[:2] * 0 + 1, x])


def test_single_image_calibration_warns_and_still_quantizes(trained_cnn, digits) -> None:
    with pytest.warns(UserWarning, match="single sample.*other inputs will clip"):
        q = ek.quantize(copy.deepcopy(trained_cnn), digits.x_train[:1], calibrate=[digits.x_train[:1]]).model
    out = q(torch.from_numpy(digits.x_test[:32]))
    assert torch.isfinite(out).all() and out.shape == (32, 10)


def test_constant_images_calibration_warns_and_still_quantizes(trained_cnn, digits) -> None:
    constant = np.full((8, 1, 8, 8), 0.5, np.float32)
    with pytest.warns(UserWarning, match="every calibration input is constant"):
        q = ek.quantize(copy.deepcopy(trained_cnn), digits.x_train[:1], calibrate=[constant]).model
    assert torch.isfinite(q(torch.from_numpy(digits.x_test[:32]))).all()


def test_mean_minmax_takes_the_mean_of_per_sample_ranges() -> None:
    obs = MeanMinMaxObserver(dtype=torch.int8, quant_min=-128, quant_max=127, qscheme=torch.per_tensor_affine)
    a = torch.tensor([[0.0, 1.0], [-1.0, 3.0]])  # sample ranges [0, 1] and [-1, 3]
    obs(a)
    obs(torch.tensor([[-2.0, 2.0]]))  # a third sample, in a second batch
    assert obs.min_val.item() == pytest.approx(-1.0)
    assert obs.max_val.item() == pytest.approx(2.0)


def test_mean_minmax_calibrator_quantizes_close_to_fp32(trained_cnn, digits, fp32_accuracy) -> None:
    from edgekit.training import accuracy

    calib = [digits.x_train[i : i + 32] for i in range(0, 256, 32)]
    q = ek.quantize(
        copy.deepcopy(trained_cnn), digits.x_train[:1], QuantConfig(calibrator="mean_minmax"), calibrate=calib
    ).model
    assert accuracy(q, digits.x_test, digits.y_test) >= fp32_accuracy - 0.03


def test_bias_correction_removes_the_mean_output_shift(trained_cnn, digits, fp32_accuracy) -> None:
    from edgekit.training import accuracy

    calib = [digits.x_train[i : i + 32] for i in range(0, 256, 32)]
    x = torch.from_numpy(digits.x_test)
    with torch.no_grad():
        reference = trained_cnn(x)
    shifts = {}
    for corrected in (False, True):
        config = QuantConfig(bias_correction=corrected)
        q = ek.quantize(copy.deepcopy(trained_cnn), digits.x_train[:1], config, calibrate=calib).model
        with torch.no_grad():
            shifts[corrected] = (q(x) - reference).mean(0).abs().mean().item()
        assert accuracy(q, digits.x_test, digits.y_test) >= fp32_accuracy - 0.03
    assert shifts[True] < 0.5 * shifts[False]
