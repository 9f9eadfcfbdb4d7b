"""``ek.quantize`` returns a QuantizeResult, never changes the caller's model, and (for one release) the
result still stands in for its model with a DeprecationWarning."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import edgekit as ek
from edgekit.demo import DigitsCNN
from edgekit.quantization import quant_state


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    return DigitsCNN(widths=(8, 16, 16))


def _batches() -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.random((8, 1, 8, 8), dtype=np.float32) for _ in range(2)]


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_quantize_leaves_the_callers_model_and_mode_alone(mode: str) -> None:
    model = _model().train(mode == "train")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    result = ek.quantize(model, torch.rand(1, 1, 8, 8), calibrate=_batches())
    assert model.training is (mode == "train") and all(
        m.training is (mode == "train") for m in model.modules()
    )
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert quant_state(model) == "float" and quant_state(result) == "finalized"
    assert result.calibration_samples == 16 and result.config == ek.QuantConfig()
    assert result.to_dict() == {
        "config": ek.QuantConfig().to_dict(),
        "calibration_samples": 16,
        "auto_keep": None,
    }
    assert "mse ranges from 16 samples, bias-corrected" in result.summary()


def test_prepare_qat_leaves_the_callers_mode_alone() -> None:
    model = _model().eval()
    qat = ek.prepare_qat(model, torch.rand(1, 1, 8, 8))
    assert not model.training and quant_state(qat) == "prepared"


@pytest.mark.parametrize(
    "example",
    [np.random.rand(1, 1, 8, 8).astype(np.float32), [torch.rand(1, 1, 8, 8)]],
    ids=["numpy", "list"],
)
def test_example_inputs_in_any_form(example: object) -> None:
    out = ek.quantize(_model(), example, calibrate=[torch.rand(4, 1, 8, 8)]).model(torch.rand(3, 1, 8, 8))
    assert out.shape == (3, 10)


def test_using_the_result_as_the_model_warns_but_works() -> None:
    result = ek.quantize(_model(), torch.rand(1, 1, 8, 8), calibrate=_batches())
    x = torch.rand(2, 1, 8, 8)
    with pytest.warns(DeprecationWarning, match="result.model"):
        old = result(x)
    with pytest.warns(DeprecationWarning, match="result.model"):
        assert result.graph is result.model.graph
    assert torch.equal(old, result.model(x))


def test_finalize_unwraps_a_result_and_names_its_state() -> None:
    result = ek.quantize(_model(), torch.rand(1, 1, 8, 8), calibrate=_batches())
    with pytest.raises(ek.QuantizationError, match="already finalized"):
        ek.finalize(result)
