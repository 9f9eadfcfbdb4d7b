"""AdaRound on a trained digits CNN: learned rounding lowers each layer's reconstruction error."""

from __future__ import annotations

import pytest
import torch
from torchao.quantization.pt2e.quantize_pt2e import prepare_pt2e

import edgekit as ek
from edgekit.demo import DigitsData
from edgekit.quantization.adaround import adaround, record_layer_inputs
from edgekit.quantization.api import capture
from edgekit.quantization.bias_correction import conv_linear_layers, getattr_path
from edgekit.quantization.quantizer import TFLiteInt8Quantizer
from edgekit.training import accuracy


def test_adaround_beats_nearest_rounding_on_the_layer_outputs(
    trained_cnn: torch.nn.Module, digits: DigitsData
) -> None:
    x = torch.as_tensor(digits.x_train[:256])
    prepared = prepare_pt2e(
        capture(trained_cnn.eval(), x[:2]), TFLiteInt8Quantizer(ek.QuantConfig(), qat=False)
    )
    inputs = record_layer_inputs(prepared, samples=64)
    with torch.no_grad():
        for batch in x.split(64):
            prepared(batch)
    layers = conv_linear_layers(prepared)
    floats = {layer.weight: getattr_path(prepared, layer.weight).detach().clone() for layer in layers}
    originals, results = adaround(prepared, inputs, iterations=200)
    assert len(results) == len(layers) == 4  # three convs and the classifier
    kept = [r for r in results if r.kept]
    assert len(kept) >= 3
    assert sum(r.adaround_error for r in kept) < 0.9 * sum(r.nearest_error for r in kept)
    assert set(originals) == {r.weight for r in kept}
    for layer in layers:
        weight = getattr_path(prepared, layer.weight)
        scale = prepared.get_submodule(layer.weight_observer).calculate_qparams()[0].reshape(-1, 1, 1, 1)
        steps = weight.reshape(scale.shape[0], -1, 1, 1) / scale if weight.ndim == 2 else weight / scale
        if layer.weight in originals:
            torch.testing.assert_close(steps, steps.round(), rtol=0, atol=1e-3)  # on the int8 grid
            moved = (originals[layer.weight] - weight).abs().reshape(steps.shape) / scale
            assert moved.max() < 1.0 + 1e-4  # rounded up or down, never further
        assert torch.equal(floats[layer.weight], originals.get(layer.weight, floats[layer.weight]))
    assert (
        trained_cnn.classifier.weight.equal(floats[layers[-1].weight]) or layers[-1].weight not in originals
    )


def test_quantize_with_adaround_keeps_accuracy(
    trained_cnn: torch.nn.Module, digits: DigitsData, fp32_accuracy: float
) -> None:
    x = torch.as_tensor(digits.x_train[:256])
    weights = {k: v.clone() for k, v in trained_cnn.state_dict().items()}
    config = ek.QuantConfig(adaround=True, adaround_iterations=100)
    result = ek.quantize(trained_cnn, x[:2], config=config, calibrate=list(x.split(64)))
    assert accuracy(result.model, digits.x_test, digits.y_test) >= fp32_accuracy - 0.02
    assert all(torch.equal(v, trained_cnn.state_dict()[k]) for k, v in weights.items())  # caller's model kept


def test_adaround_iterations_must_be_positive() -> None:
    with pytest.raises(ek.QuantizationError, match="adaround_iterations"):
        ek.QuantConfig(adaround=True, adaround_iterations=0)
