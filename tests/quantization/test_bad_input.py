"""Quantization misuse gets a QuantizationError (or ExportError) that names the problem and the fix."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch

import edgekit as ek
from edgekit.errors import ExportError, QuantizationError
from edgekit.quantization import QuantConfig, quant_state


class Branchy(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.sum() > 0:  # data-dependent control flow: torch.export cannot trace it
            return x * 2
        return x


def test_untraceable_model_names_the_cause_and_the_fix() -> None:
    with pytest.raises(QuantizationError, match=r"could not capture Branchy.*control flow"):
        ek.quantize(Branchy(), torch.rand(1, 4), calibrate=[np.random.rand(2, 4).astype(np.float32)])


def test_calibration_with_wrong_shape(trained_cnn, digits) -> None:
    with pytest.raises(QuantizationError, match=r"calibration batch 0 has shape \(4, 1, 9, 9\)"):
        ek.quantize(
            copy.deepcopy(trained_cnn), torch.rand(1, 1, 8, 8), calibrate=[np.zeros((4, 1, 9, 9), np.float32)]
        )


def test_empty_calibration(trained_cnn) -> None:
    with pytest.raises(QuantizationError, match="calibration data is empty"):
        ek.quantize(copy.deepcopy(trained_cnn), torch.rand(1, 1, 8, 8), calibrate=[])


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_calibration(trained_cnn, bad: float) -> None:
    x = np.zeros((4, 1, 8, 8), np.float32)
    x[1, 0, 2, 2] = bad
    with pytest.raises(QuantizationError, match="NaN or inf"):
        ek.quantize(copy.deepcopy(trained_cnn), torch.rand(1, 1, 8, 8), calibrate=[x])


class StochasticDepthBlock(torch.nn.Module):
    """A residual block with torchvision's StochasticDepth (EfficientNet's drop-connect): random in train()."""

    def __init__(self) -> None:
        super().__init__()
        from torchvision.ops import StochasticDepth

        self.conv = torch.nn.Conv2d(4, 4, 3, padding=1)
        self.drop = StochasticDepth(0.2, "row")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.drop(self.conv(x))


def test_qat_of_a_model_that_draws_random_numbers_names_the_draw_and_the_fix() -> None:
    with pytest.raises(QuantizationError, match=r"StochasticDepthBlock draws random numbers.*bernoulli.*p=0"):
        ek.prepare_qat(StochasticDepthBlock(), torch.rand(2, 4, 8, 8))
    block = StochasticDepthBlock()
    block.drop.p = 0.0  # the fix the message names: the block now captures without a draw
    assert quant_state(ek.prepare_qat(block, torch.rand(2, 4, 8, 8))) == "prepared"


def test_finalize_needs_a_prepared_model(trained_cnn) -> None:
    with pytest.raises(QuantizationError, match="never prepared"):
        ek.finalize(copy.deepcopy(trained_cnn))


def test_export_of_a_prepared_but_not_finalized_model(trained_cnn, tmp_path: Path) -> None:
    qat = ek.prepare_qat(copy.deepcopy(trained_cnn), torch.rand(1, 1, 8, 8))
    with pytest.raises(ExportError, match=r"call ek.finalize"):
        ek.export(qat, torch.rand(1, 1, 8, 8), tmp_path / "m.tflite")
    assert not (tmp_path / "m.tflite").exists()


def test_keep_float_with_an_unknown_layer_suggests_close_names(trained_cnn) -> None:
    with pytest.raises(QuantizationError, match="did you mean classifier"):
        ek.quantize(
            copy.deepcopy(trained_cnn),
            torch.rand(1, 1, 8, 8),
            calibrate=[np.zeros((2, 1, 8, 8), np.float32)],
            config=QuantConfig(keep_float=("clasifier",)),
        )


def test_bad_config_values() -> None:
    with pytest.raises(QuantizationError, match="unknown calibrator"):
        QuantConfig(calibrator="magic")  # type: ignore[arg-type]
    with pytest.raises(QuantizationError, match="percentile"):
        QuantConfig(calibrator="percentile", percentile=10)
