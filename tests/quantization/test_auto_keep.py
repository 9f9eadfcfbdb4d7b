"""Mixed precision from sensitivity (``QuantConfig(auto_keep=...)``, ``QuantConfig(int16_layers=...)``): a
digits CNN with one deliberately sensitive activation (one channel 100x the others, so int8's per-tensor
range leaves the rest ~1 step), searched, exported to .tflite and run in LiteRT against the PyTorch
mixed model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

import edgekit as ek
from edgekit.demo import DigitsData
from edgekit.errors import QuantizationError
from edgekit.recipes.stages.quantize import QuantizeStep
from edgekit.runtime import Model
from edgekit.training import train


class OutlierCNN(nn.Module):
    """conv1 -> ReLU -> conv2 -> ReLU -> pool -> fc; ``make_sensitive`` gives conv1's output channel 0
    values 100x the other channels (and conv2 reads that channel alone into its output channel 0, scaled
    back), so the float function stays well-conditioned while int8 activations of conv1 lose the other
    channels."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.relu = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(32, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.conv2(self.relu(self.conv1(x))))
        return self.fc(torch.flatten(self.pool(x), 1))

    def make_sensitive(self, factor: float = 100.0) -> OutlierCNN:
        with torch.no_grad():
            self.conv1.weight[0] *= factor
            self.conv1.bias[0] *= factor
            self.conv2.weight[:, 0] /= factor
            self.conv2.weight[1:, 0] = 0.0
            self.conv2.weight[0, 1:] = 0.0
        return self


@pytest.fixture(scope="module")
def sensitive(digits: DigitsData) -> nn.Module:
    torch.manual_seed(0)
    model = train(OutlierCNN(), digits.x_train, digits.y_train, epochs=4)
    return model.make_sensitive().eval()


def _batches(digits: DigitsData, n: int = 256) -> list[torch.Tensor]:
    return [digits.x_train[i : i + 64] for i in range(0, n, 64)]


def _ops(path: Path) -> tuple[dict[str, int], list[dict[str, Any]]]:
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interp = Interpreter(
        model_path=str(path), experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    )
    counts: dict[str, int] = {}
    for op in interp._get_ops_details():
        counts[op["op_name"]] = counts.get(op["op_name"], 0) + 1
    return counts, interp.get_tensor_details()


def test_auto_keep_config_is_a_frozen_enum_dataclass_in_quant_config_and_recipes() -> None:
    config = ek.QuantConfig(auto_keep={"target_cosine": 0.995, "keep_as": "float", "max_layers": 3})
    assert config.auto_keep == ek.AutoKeep(0.995, ek.KeepAs.FLOAT, 3)
    assert ek.QuantConfig.from_dict(config.to_dict()) == config
    assert config.to_dict()["auto_keep"] == {
        "version": 1,
        "target_cosine": 0.995,
        "keep_as": "float",
        "max_layers": 3,
    }
    with pytest.raises(QuantizationError, match="keep_as must be one of 'int16', 'float'"):
        ek.AutoKeep(keep_as="int4")
    with pytest.raises(QuantizationError, match="target_cosine must be in"):
        ek.AutoKeep(target_cosine=1.5)
    with pytest.raises(QuantizationError, match="scheme 'int16x8' has no int8 layers"):
        ek.QuantConfig(scheme="int16x8", auto_keep=ek.AutoKeep())
    step = QuantizeStep.model_validate(
        {"step": "quantize", "mode": "ptq", "auto_keep": {"target_cosine": 0.995}, "int16_layers": ["fc"]}
    )
    assert step.config == ek.QuantConfig(auto_keep=ek.AutoKeep(0.995), int16_layers=("fc",))
    with pytest.raises(ValueError, match="keep_as"):
        QuantizeStep.model_validate({"step": "quantize", "auto_keep": {"keep_as": "int4"}})


def test_auto_keep_bad_input_fails_before_work(sensitive: nn.Module, digits: DigitsData) -> None:
    x = digits.x_test[:1]
    config = ek.QuantConfig(auto_keep=ek.AutoKeep())
    with pytest.raises(QuantizationError, match="not a callable"):
        ek.quantize(sensitive, x, config, calibrate=lambda m: m(x))
    with pytest.raises(QuantizationError, match="auto_keep is a post-training search"):
        ek.prepare_qat(sensitive, x, config=config)
    with pytest.raises(QuantizationError, match=r"int16_layers names 'conv3'.*did you mean conv2, conv1"):
        ek.quantize(sensitive, x, ek.QuantConfig(int16_layers=("conv3",)), calibrate=_batches(digits))


def test_auto_keep_int16_meets_the_target_and_the_tflite_matches_the_pytorch_mixed_model(
    sensitive: nn.Module, digits: DigitsData, tmp_path: Path
) -> None:
    x, held_out = digits.x_test[:1], [digits.x_test[:128]]
    batches = _batches(digits)
    plain = ek.quantize(sensitive, x, calibrate=batches)
    int8_cosine = ek.compare(sensitive, plain.model, held_out).cosine_min
    result = ek.quantize(
        sensitive, x, ek.QuantConfig(auto_keep=ek.AutoKeep(target_cosine=0.999)), calibrate=batches
    )
    report = result.auto_keep
    assert report is not None and report.keep_as is ek.KeepAs.INT16
    assert report.steps[0].layers == () and report.steps[0].cosine < 0.999 <= report.cosine
    assert set(report.kept) == {"conv1", "conv2"}  # the outlier tensor is conv1's output and conv2's input
    assert {name for name, _ in report.ranking[:2]} == {"conv1", "conv2"}
    assert result.config.int16_layers == report.kept and result.config.auto_keep is None
    assert "kept as int16" in result.summary()
    mixed_cosine = ek.compare(sensitive, result.model, held_out).cosine_min
    assert mixed_cosine > int8_cosine and mixed_cosine > 0.998

    out = ek.export(result, x, tmp_path / "mixed.tflite")
    ops, tensors = _ops(out.path)
    assert ops.get("DEQUANTIZE", 0) == 0  # integer end to end: int8 <-> int16 requantizes only
    assert ops["QUANTIZE"] >= 1
    assert {np.dtype(t["dtype"]) for t in tensors} >= {np.dtype(np.int8), np.dtype(np.int16)}
    vs_torch = ek.compare(result.model, out.path, held_out)
    assert vs_torch.cosine_min > 0.999 and vs_torch.top1_agreement >= 0.99
    vs_fp32 = ek.compare(sensitive, Model.load(out.path), held_out)
    assert vs_fp32.cosine_min > int8_cosine


def test_auto_keep_float_and_the_error_naming_the_best_reached(
    sensitive: nn.Module, digits: DigitsData, tmp_path: Path
) -> None:
    x, batches = digits.x_test[:1], _batches(digits)
    result = ek.quantize(
        sensitive,
        x,
        ek.QuantConfig(auto_keep=ek.AutoKeep(target_cosine=0.999, keep_as="float")),
        calibrate=batches,
    )
    assert result.auto_keep is not None and set(result.auto_keep.kept) == {"conv1", "conv2"}
    assert result.config.keep_float == result.auto_keep.kept
    assert result.auto_keep.steps[-1].weight_bytes > result.auto_keep.steps[0].weight_bytes
    out = ek.export(result, x, tmp_path / "float_kept.tflite")
    assert ek.compare(result.model, out.path, [digits.x_test[:128]]).cosine_min > 0.999
    with pytest.raises(
        QuantizationError,
        match=r"could not reach cosine 0.999 with at most 1 layer.*the best was 0\.\d+ with",
    ):
        ek.quantize(
            sensitive,
            x,
            ek.QuantConfig(auto_keep=ek.AutoKeep(target_cosine=0.999, max_layers=1)),
            calibrate=batches,
        )


class Aliased(nn.Module):
    """A layer registered under two names, called through the second (as a detection head calls YOLO's
    Detect, ``model.23``, through ``detect``)."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Conv2d(4, 4, 3))
        self.last = self.body[2]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.last(self.body[1](self.body[0](x)))


def test_int16_layer_named_by_its_first_path_applies_where_forward_calls_it_by_another(
    tmp_path: Path,
) -> None:
    torch.manual_seed(0)
    x = torch.rand(1, 1, 8, 8)
    config = ek.QuantConfig(int16_layers=("body.2",))  # named_modules() lists it as body.2, not last
    quantized = ek.quantize(Aliased().eval(), x, config, calibrate=[torch.rand(4, 1, 8, 8)]).model
    path = ek.export(quantized, x, tmp_path / "mixed.tflite", ek.ExportConfig(verify=False)).path
    from ai_edge_litert.interpreter import Interpreter

    types = {t["dtype"] for t in Interpreter(model_path=str(path)).get_tensor_details()}
    assert np.int16 in types
