"""Per-layer sensitivity: the accuracy drop when only that layer is quantized."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import torch

from edgekit.quantization.config import QuantConfig


@dataclass(frozen=True)
class LayerSensitivity:
    layer: str
    metric: float  # evaluate() with only this layer quantized
    drop: float  # float metric - metric

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def quantizable_layers(model: torch.nn.Module) -> list[str]:
    """Names of the Conv/Linear layers (each with its fused BN/activation) that quantization touches."""
    return [
        n
        for n, m in model.named_modules()
        if isinstance(m, torch.nn.Conv1d | torch.nn.Conv2d | torch.nn.Linear)
    ]


def sensitivity(
    model: torch.nn.Module,
    example_inputs: Any,
    *,
    calibrate: Any,
    evaluate: Callable[[torch.nn.Module], float],
    config: QuantConfig | None = None,
) -> list[LayerSensitivity]:
    """Quantize one layer at a time (all others float) and report ``evaluate`` per layer, worst first.

    ``evaluate(model) -> float`` is higher-is-better (e.g. accuracy). Use the worst layers as
    ``QuantConfig(keep_float=...)``.
    """
    from edgekit.quantization.api import quantize

    config = config or QuantConfig()
    baseline = float(evaluate(model.eval()))
    layers = quantizable_layers(model)
    calibration = list(calibrate) if not callable(calibrate) else calibrate
    results = []
    for layer in layers:
        others = tuple(n for n in layers if n != layer)
        cfg = QuantConfig(**{**asdict(config), "keep_float": others})
        q = quantize(copy.deepcopy(model), example_inputs, calibrate=calibration, config=cfg).model
        metric = float(evaluate(q))
        results.append(LayerSensitivity(layer, metric, baseline - metric))
    return sorted(results, key=lambda r: -r.drop)
