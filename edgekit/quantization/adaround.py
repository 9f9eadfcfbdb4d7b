"""AdaRound: learned rounding of int8 weights (Nagel et al. 2020, "Up or Down? Adaptive Rounding").

Nearest rounding of each weight is not the best choice for a layer's output. AdaRound keeps each
weight's scale (from calibration) and learns, per weight, whether to round down or up: a soft variable
``h(V)`` in [0, 1] is added to ``floor(W / s)`` and trained to minimise the layer's output error on the
calibration inputs, with a regulariser that pushes every ``h`` to 0 or 1 (its exponent ``beta`` annealed
from 20 to 2). Layer by layer, on float inputs recorded during calibration; a layer whose learned rounding
does not beat nearest rounding on those inputs keeps nearest rounding.

Runs on a PT2E-prepared graph after calibration (weight observers hold the final scales): each weight is
replaced by its rounded value (on the int8 grid, so ``convert_pt2e`` keeps it exactly).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch.fx import GraphModule

from edgekit.quantization.bias_correction import (
    LINEAR,
    Layer,
    conv_linear_layers,
    getattr_path,
    replace_tensor,
)

log = logging.getLogger(__name__)

ZETA, GAMMA = 1.1, -0.1  # rectified sigmoid stretch (the paper's values)
REG_WEIGHT = 0.01
WARMUP = 0.2  # fraction of iterations without the rounding regulariser
BETA = (20.0, 2.0)
LR = 1e-2
BATCH_POSITIONS = 1 << 16  # output positions per optimisation step (samples x spatial)


@dataclass
class LayerInputs:
    """The first ``samples`` float inputs of each conv / linear, recorded by hooks on their input observers."""

    samples: int
    inputs: dict[str, list[torch.Tensor]] = field(default_factory=dict)
    seen: dict[str, int] = field(default_factory=dict)
    handles: list[Any] = field(default_factory=list)

    def get(self, name: str) -> torch.Tensor | None:
        chunks = self.inputs.get(name)
        if not chunks or any(c.shape[1:] != chunks[0].shape[1:] for c in chunks):
            return None
        return torch.cat(chunks)

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()


@dataclass
class Rounding:
    """One layer's output error (mean squared, on its recorded inputs) with nearest and learned rounding."""

    weight: str
    nearest_error: float
    adaround_error: float

    @property
    def kept(self) -> bool:
        """True when the learned rounding was kept (it beat nearest rounding)."""
        return self.adaround_error < self.nearest_error


def record_layer_inputs(model: GraphModule, samples: int) -> LayerInputs:
    """Hook every conv / linear input observer so calibration also keeps its first ``samples`` inputs."""
    record = LayerInputs(samples)
    for layer in conv_linear_layers(model):
        name = layer.input_observer

        def hook(_module: Any, args: tuple[Any, ...], _out: Any, name: str = name) -> None:
            have = record.seen.get(name, 0)
            x = args[0]
            if have >= record.samples or not isinstance(x, torch.Tensor) or x.ndim < 2:
                return
            take = x[: record.samples - have].detach().float().clone()
            record.inputs.setdefault(name, []).append(take)
            record.seen[name] = have + len(take)

        record.handles.append(model.get_submodule(name).register_forward_hook(hook))
    return record


def _apply(layer: Layer, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    if layer.node.target in LINEAR:
        return F.linear(x, weight, bias)
    given: list[Any] = list(layer.node.args[3:7])
    stride, padding, dilation, groups = given + [1, 0, 1, 1][len(given) :]
    conv = F.conv1d if x.ndim == 3 else F.conv2d
    return conv(x, weight, bias, stride, padding, dilation, groups)


def _soft(v: torch.Tensor) -> torch.Tensor:
    return (torch.sigmoid(v) * (ZETA - GAMMA) + GAMMA).clamp(0, 1)


def _error(
    layer: Layer, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, target: torch.Tensor
) -> float:
    return float((_apply(layer, x, weight, bias) - target).pow(2).mean())


def _round_layer(
    model: GraphModule, layer: Layer, x: torch.Tensor, iterations: int, generator: torch.Generator
) -> Rounding:
    weight = getattr_path(model, layer.weight).detach().float()
    bias = getattr_path(model, layer.bias).detach().float()
    observer: Any = model.get_submodule(layer.weight_observer)
    scale, zero_point = observer.calculate_qparams()
    shape = (-1,) + (1,) * (weight.ndim - 1) if scale.numel() > 1 else ()
    scale, zero_point = scale.float().reshape(shape), zero_point.float().reshape(shape)
    lo, hi = float(observer.quant_min), float(observer.quant_max)
    base = torch.floor(weight / scale)
    rest = (weight / scale - base).clamp(1e-4, 1 - 1e-4)
    v = torch.nn.Parameter(-torch.log((ZETA - GAMMA) / (rest - GAMMA) - 1))

    def rounded(h: torch.Tensor) -> torch.Tensor:
        return (torch.clamp(base + h + zero_point, lo, hi) - zero_point) * scale

    with torch.no_grad():
        target = _apply(layer, x, weight, bias)
        nearest_weight = rounded((weight / scale - base >= 0.5).float())
    per_sample = max(target[0].numel() // max(target.shape[1], 1), 1)
    batch = max(1, min(len(x), BATCH_POSITIONS // per_sample))
    optimizer = torch.optim.Adam([v], lr=LR)
    warmup = int(iterations * WARMUP)
    for step in range(iterations):
        pick = torch.randint(0, len(x), (batch,), generator=generator)
        out = _apply(layer, x[pick], rounded(_soft(v)), bias)
        loss = (out - target[pick]).pow(2).sum(1).mean()
        if step >= warmup:
            progress = (step - warmup) / max(iterations - warmup, 1)
            beta = BETA[1] + (BETA[0] - BETA[1]) * (1 - progress)
            loss = loss + REG_WEIGHT * (1 - (2 * _soft(v) - 1).abs().pow(beta)).sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        learned = rounded((v >= 0).float())
        result = Rounding(
            layer.weight,
            _error(layer, x, nearest_weight, bias, target),
            _error(layer, x, learned, bias, target),
        )
        if result.kept:
            replace_tensor(model, layer.weight, learned.to(getattr_path(model, layer.weight).dtype))
    return result


def adaround(
    model: GraphModule, inputs: LayerInputs, iterations: int = 300
) -> tuple[dict[str, torch.Tensor], list[Rounding]]:
    """Learn the rounding of every conv / linear weight of a calibrated PT2E-prepared ``model`` from the
    inputs ``record_layer_inputs`` kept; returns the float weights it replaced (by ``get_attr`` target,
    for bias correction) and each layer's :class:`Rounding`.

    >>> from edgekit.quantization import QuantConfig
    >>> QuantConfig(adaround=True, adaround_iterations=200).adaround
    True
    """
    inputs.remove()
    generator = torch.Generator().manual_seed(0)
    originals: dict[str, torch.Tensor] = {}
    results = []
    for layer in conv_linear_layers(model):
        x = inputs.get(layer.input_observer)
        weight = getattr_path(model, layer.weight)
        if x is not None and layer.node.target in LINEAR and x.shape[-1] != weight.shape[1]:
            x = x.flatten(1) if x[0].numel() == weight.shape[1] else None  # observed before a flatten
        if x is None:
            continue  # not recorded, or the observer saw the input before another reshape
        if layer.node.target not in LINEAR and x.ndim != weight.ndim:
            continue
        original = weight.detach()
        result = _round_layer(model, layer, x.to(weight.device), iterations, generator)
        results.append(result)
        if result.kept:
            originals[layer.weight] = original
    log.info(
        "AdaRound: %d of %d layers kept learned rounding (output MSE %.3g -> %.3g summed)",
        len(originals),
        len(results),
        math.fsum(r.nearest_error for r in results),
        math.fsum(min(r.nearest_error, r.adaround_error) for r in results),
    )
    return originals, results
