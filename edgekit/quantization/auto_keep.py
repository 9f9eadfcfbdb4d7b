"""Mixed precision from sensitivity: keep the layers int8 hurts most in int16 (or float) until the
quantized model's outputs match the float model's to a target cosine.

``QuantConfig(auto_keep=AutoKeep(...))`` makes ``ek.quantize``:

1. quantize everything to int8 and measure the parity (minimum per-sample cosine of the outputs) of the
   quantized model against the float one on the calibration batches; stop if the target is met;
2. rank the Conv / Linear layers with :func:`~edgekit.quantization.sensitivity.sensitivity` (each layer
   quantized alone, scored by that same cosine);
3. keep the 1, 2, ... most sensitive layers with int16 activations (``QuantConfig.int16_layers``: LiteRT's
   16x8 kernels, int8 weights, a requantize at each int8 / int16 boundary) or in float
   (``QuantConfig.keep_float``), re-quantizing each time, until the target is met or ``max_layers`` are
   kept (then a :class:`~edgekit.errors.QuantizationError` names the best parity reached and its layers).

``QuantizeResult.auto_keep`` (an :class:`AutoKeepReport`) has the ranking, every step's layers and parity,
and the weight bytes each step costs; the .tflite size, op count and latency are measured by exporting
(``benchmarks/quant_modes.py`` has the rows).

>>> AutoKeep(target_cosine=0.995, keep_as="float").keep_as
<KeepAs.FLOAT: 'float'>
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any

from edgekit.config import VerbConfig, coerce_enum
from edgekit.errors import QuantizationError

if TYPE_CHECKING:
    import torch

    from edgekit.quantization.api import QuantizeResult
    from edgekit.quantization.config import QuantConfig

log = logging.getLogger(__name__)


class KeepAs(str, Enum):
    """What a kept layer becomes: ``INT16`` activations (int8 weights, TFLite 16x8 kernels) or ``FLOAT``."""

    INT16 = "int16"
    FLOAT = "float"


@dataclass(frozen=True)
class AutoKeep(VerbConfig):
    """Settings of the sensitivity-driven mixed-precision search (see the module docstring).

    * ``target_cosine``: the minimum per-sample cosine between the quantized and the float model's outputs
      on the calibration batches that ends the search (0 < target <= 1).
    * ``keep_as``: :class:`KeepAs` — ``"int16"`` (default: int16 activations, weights stay int8, the file
      stays integer) or ``"float"``.
    * ``max_layers``: the most layers kept; past it the search fails naming the best parity reached.

    >>> AutoKeep().to_dict()
    {'version': 1, 'target_cosine': 0.99, 'keep_as': 'int16', 'max_layers': 8}
    """

    target_cosine: float = 0.99
    keep_as: KeepAs | str = KeepAs.INT16
    max_layers: int = 8

    def __post_init__(self) -> None:
        coerce_enum(self, "keep_as", KeepAs, QuantizationError)
        if not 0.0 < self.target_cosine <= 1.0:
            raise QuantizationError(f"target_cosine must be in (0, 1], got {self.target_cosine}")
        if self.max_layers < 1:
            raise QuantizationError(f"max_layers must be >= 1, got {self.max_layers}")


@dataclass(frozen=True)
class KeepStep:
    """One step of the search: the layers kept, the parity reached and the weight bytes it costs."""

    layers: tuple[str, ...]
    cosine: float  # minimum per-sample cosine vs the float model
    top1: float  # top-1 agreement vs the float model
    weight_bytes: int  # int8 weights + int32/int64 biases, float weights for float-kept layers

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "layers": list(self.layers)}


@dataclass(frozen=True)
class AutoKeepReport:
    """What ``QuantConfig(auto_keep=...)`` did: the sensitivity ranking (layer, cosine with only that layer
    quantized) and every step; the last step is the returned model."""

    keep_as: KeepAs
    target_cosine: float
    ranking: tuple[tuple[str, float], ...]
    steps: tuple[KeepStep, ...]

    @property
    def kept(self) -> tuple[str, ...]:
        """The layers kept in int16 / float in the returned model."""
        return self.steps[-1].layers

    @property
    def cosine(self) -> float:
        """The parity the returned model reached."""
        return self.steps[-1].cosine

    def summary(self) -> str:
        first, last = self.steps[0], self.steps[-1]
        return (
            f"{len(last.layers)} layer(s) kept as {self.keep_as.value} ({', '.join(last.layers) or 'none'}): "
            f"cosine {first.cosine:.5f} -> {last.cosine:.5f} (target {self.target_cosine}), weights "
            f"{first.weight_bytes / 1024:.1f} -> {last.weight_bytes / 1024:.1f} KiB"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "keep_as": self.keep_as.value,
            "target_cosine": self.target_cosine,
            "kept": list(self.kept),
            "ranking": [list(r) for r in self.ranking],
            "steps": [s.to_dict() for s in self.steps],
        }


def _parity(model: torch.nn.Module, candidate: torch.nn.Module, batches: list[Any]) -> tuple[float, float]:
    from edgekit.converters.parity import compare

    report = compare(model, candidate, batches)
    return float(report.cosine_min), float(report.top1_agreement)


def _weight_bytes(model: torch.nn.Module, keep_float: tuple[str, ...]) -> int:
    """Bytes of Conv / Linear weights and biases in the file: int8 weights (int32 biases), float32 for the
    layers kept float. int16 layers cost the same weight bytes (their biases are int64: +4 bytes each)."""
    from edgekit.quantization.sensitivity import quantizable_layers

    modules = dict(model.named_modules())
    total = 0
    for name in quantizable_layers(model):
        module = modules[name]
        width = 4 if name in keep_float else 1
        total += module.weight.numel() * width
        if getattr(module, "bias", None) is not None or width == 1:
            total += 4 * module.weight.shape[0]
    return total


def search(
    model: torch.nn.Module, example_inputs: Any, config: QuantConfig, batches: list[Any]
) -> QuantizeResult:
    """Run the search of ``config.auto_keep`` (see the module docstring); the result's model is the first
    step that meets the target."""
    from edgekit.quantization.api import quantize
    from edgekit.quantization.sensitivity import sensitivity

    settings = config.auto_keep
    assert settings is not None
    base = dataclasses.replace(config, auto_keep=None)
    keep_as = KeepAs(settings.keep_as)

    def step(layers: tuple[str, ...]) -> tuple[QuantizeResult, KeepStep]:
        if keep_as is KeepAs.FLOAT:
            cfg = dataclasses.replace(base, keep_float=base.keep_float + layers)
        else:
            cfg = dataclasses.replace(base, int16_layers=base.int16_layers + layers)
        result = quantize(model, example_inputs, cfg, calibrate=batches)
        cosine, top1 = _parity(model, result.model, batches)
        log.info("auto_keep: %d layer(s) kept, cosine %.5f", len(layers), cosine)
        return result, KeepStep(layers, cosine, top1, _weight_bytes(model, cfg.keep_float))

    result, first = step(())
    steps = [first]
    ranking: list[tuple[str, float]] = []
    if first.cosine < settings.target_cosine:
        fixed = set(base.keep_float) | set(base.int16_layers)
        ranked = sensitivity(
            model,
            example_inputs,
            calibrate=batches,
            evaluate=lambda q: _parity(model, q, batches)[0],
            config=base,
        )
        ranking = [(r.layer, r.metric) for r in ranked if r.layer not in fixed]
        for count in range(1, min(settings.max_layers, len(ranking)) + 1):
            result, last = step(tuple(name for name, _ in ranking[:count]))
            steps.append(last)
            if last.cosine >= settings.target_cosine:
                break
        else:
            best = max(steps, key=lambda s: s.cosine)
            raise QuantizationError(
                f"auto_keep could not reach cosine {settings.target_cosine} with at most {settings.max_layers} "
                f"layer(s) kept as {keep_as.value}: the best was {best.cosine:.5f} with "
                f"{', '.join(best.layers) or 'no layer'} kept; raise max_layers, keep layers as 'float', "
                "lower target_cosine, or calibrate on more representative data"
            )
    report = AutoKeepReport(keep_as, settings.target_cosine, tuple(ranking), tuple(steps))
    log.info("auto_keep: %s", report.summary())
    return dataclasses.replace(result, auto_keep=report)
