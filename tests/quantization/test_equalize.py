"""Cross-layer equalization on real models: the float function is kept, per-channel weight ranges equalized."""

from __future__ import annotations

import copy

import pytest
import torch
import torchvision
from torchao.quantization.pt2e.quantize_pt2e import prepare_pt2e

import edgekit as ek
from edgekit.demo import DigitsData
from edgekit.quantization.api import capture
from edgekit.quantization.bias_correction import getattr_path
from edgekit.quantization.equalize import Pair, equalize, find_pairs, weight_attr
from edgekit.quantization.quantizer import TFLiteInt8Quantizer
from edgekit.training import accuracy


def _prepared(model: torch.nn.Module, x: torch.Tensor) -> torch.fx.GraphModule:
    return prepare_pt2e(capture(model.eval(), x), TFLiteInt8Quantizer(ek.QuantConfig(), qat=False))


def _ranges(model: torch.fx.GraphModule, pair: Pair) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel largest |weight| of the first conv's outputs and of the second conv's inputs."""
    w1 = getattr_path(model, str(weight_attr(pair.first)))
    w2 = getattr_path(model, str(weight_attr(pair.second)))
    return w1.abs().flatten(1).amax(1), w2.abs().transpose(0, 1).flatten(1).amax(1)


def _mobilenet() -> torch.nn.Module:
    torch.manual_seed(0)
    net = torchvision.models.mobilenet_v2(weights=None, num_classes=10, width_mult=0.5).eval()
    for bn in (m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)):
        bn.weight.data.uniform_(0.1, 2.0)  # uneven channel scales, as trained networks have
        bn.running_var.uniform_(0.2, 3.0)
    return net


def test_cle_keeps_fp32_outputs_and_equalizes_ranges(
    trained_cnn: torch.nn.Module, digits: DigitsData
) -> None:
    x = torch.as_tensor(digits.x_test[:64])
    prepared = _prepared(trained_cnn, x)
    before = prepared(x)
    pairs = find_pairs(prepared, relu6_as_relu=False)
    assert len(pairs) == 1  # conv1 -> ReLU -> conv2; max pooling stands before conv3
    r1, r2 = _ranges(prepared, pairs[0])
    product = r1 * r2
    assert equalize(prepared) == 1
    after = prepared(x)
    assert (after - before).abs().max() <= 1e-5 * before.abs().max()
    e1, e2 = _ranges(prepared, pairs[0])
    torch.testing.assert_close(e1, e2, rtol=1e-4, atol=0)
    torch.testing.assert_close(e1 * e2, product, rtol=1e-4, atol=0)
    spread = (r1.min() / r1.max()).item()
    assert (e1.min() / e1.max()).item() > spread  # the first conv's channels moved closer together
    assert (
        trained_cnn.features[0][0]
        .weight.abs()
        .flatten(1)
        .amax(1)
        .equal(trained_cnn.state_dict()["features.0.0.weight"].abs().flatten(1).amax(1))
    )


def test_relu6_pairs_only_when_asked() -> None:
    net, x = _mobilenet(), torch.randn(4, 3, 32, 32)
    exact = _prepared(net, x)
    relaxed = copy.deepcopy(exact)
    reference = exact(x)
    plain = equalize(exact)
    assert (exact(x) - reference).abs().max() <= 1e-5 * reference.abs().max()  # no ReLU6 touched
    pairs = find_pairs(relaxed, relu6_as_relu=True)
    through_relu6 = [p for p in pairs if p.relu6 is not None]
    assert len(pairs) == equalize(relaxed, relu6_as_relu=True) > plain
    assert len(through_relu6) >= 2 * 16  # expand -> depthwise -> project in each inverted residual block
    assert not any(n.target is torch.ops.aten.hardtanh_.default for n in (p.relu6 for p in through_relu6))
    for pair in pairs:
        if pair.second.args[6:7] == (1,) or len(pair.second.args) < 7:
            r1, r2 = _ranges(relaxed, pair)
            torch.testing.assert_close(r1, r2, rtol=1e-3, atol=1e-6)


@pytest.mark.parametrize("equalization", ["relu", "relu6_as_relu"])
def test_quantize_with_cle_keeps_accuracy(
    equalization: str, trained_cnn: torch.nn.Module, digits: DigitsData, fp32_accuracy: float
) -> None:
    x = torch.as_tensor(digits.x_train[:256])
    config = ek.QuantConfig(equalization=equalization)
    result = ek.quantize(trained_cnn, x[:2], config=config, calibrate=list(x.split(64)))
    assert accuracy(result.model, digits.x_test, digits.y_test) >= fp32_accuracy - 0.02
    assert ek.QuantConfig.from_dict(config.to_dict()).equalization == ek.Equalization(equalization)


def test_unknown_equalization_names_the_choices() -> None:
    with pytest.raises(ek.QuantizationError, match="relu6_as_relu"):
        ek.QuantConfig(equalization="dfq")
