"""Empirical bias correction (Nagel et al. 2019, "Data-Free Quantization", section 4.2).

Rounding a layer's weights to int8 shifts the mean of its output by ``(W_q - W) @ E[x]``; that shift
passes through every later layer. During calibration the mean of each conv / linear input is recorded
per channel; after calibration each bias is corrected by the shift its quantized weights cause. Works on
a PT2E-prepared graph (BatchNorm already folded, weight observers holding the final weight scales).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.fx import GraphModule, Node

aten = torch.ops.aten
CONV = {aten.conv1d.default, aten.conv2d.default}
LINEAR = {aten.linear.default}


@dataclass
class Layer:
    node: Node
    weight: str  # get_attr targets
    bias: str
    weight_observer: str
    input_observer: str


@dataclass
class ChannelMeans:
    """Per-channel input means, recorded by forward hooks on the input observers."""

    sums: dict[str, torch.Tensor] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    skipped: set[str] = field(default_factory=set)
    handles: list[Any] = field(default_factory=list)

    def mean(self, name: str) -> torch.Tensor | None:
        if name not in self.sums or not self.counts[name] or name in self.skipped:
            return None
        return self.sums[name] / self.counts[name]

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()


def conv_linear_layers(model: GraphModule) -> list[Layer]:
    calls = Counter(n.target for n in model.graph.nodes if n.op == "call_module")
    layers = []
    for node in model.graph.nodes:
        if node.op != "call_function" or node.target not in CONV | LINEAR or len(node.args) < 3:
            continue
        x, w, b = node.args[:3]
        if not (isinstance(x, Node) and isinstance(w, Node) and isinstance(b, Node)):
            continue
        if x.op != "call_module" or w.op != "call_module" or b.op != "get_attr" or calls[x.target] != 1:
            continue  # an observer shared by several tensors would mix their means
        w_attr = w.args[0]
        if not isinstance(w_attr, Node) or w_attr.op != "get_attr":
            continue
        layers.append(Layer(node, str(w_attr.target), str(b.target), str(w.target), str(x.target)))
    return layers


def record_input_means(model: GraphModule) -> ChannelMeans:
    """Hook the input observer of every conv / linear so calibration also records per-channel means."""
    means = ChannelMeans()
    for layer in conv_linear_layers(model):
        name = layer.input_observer
        channel = -1 if layer.node.target in LINEAR else 1  # a linear reads its last dim, a conv dim 1

        def hook(
            _module: Any, args: tuple[Any, ...], _out: Any, name: str = name, channel: int = channel
        ) -> None:
            x = args[0].detach().float()
            if x.ndim < 2:
                return
            axis = channel % x.ndim
            total = x.sum([d for d in range(x.ndim) if d != axis]).cpu()
            if name in means.sums and means.sums[name].shape != total.shape:
                means.skipped.add(name)  # the observer saw tensors of another width: no mean for it
                return
            means.sums[name] = means.sums.get(name, 0) + total
            means.counts[name] = means.counts.get(name, 0) + x.numel() // x.shape[axis]

        means.handles.append(model.get_submodule(name).register_forward_hook(hook))
    return means


def fake_quant(weight: torch.Tensor, observer: Any) -> torch.Tensor:
    scale, zero_point = observer.calculate_qparams()
    lo, hi = observer.quant_min, observer.quant_max
    if scale.numel() > 1:
        axis = getattr(observer, "ch_axis", 0)
        return torch.fake_quantize_per_channel_affine(weight, scale, zero_point.int(), axis, lo, hi)
    return torch.fake_quantize_per_tensor_affine(weight, float(scale), int(zero_point), lo, hi)


def correct_biases(
    model: GraphModule, means: ChannelMeans, originals: dict[str, torch.Tensor] | None = None
) -> int:
    """Subtract each layer's weight-rounding shift ``(W_q - W) @ E[x]`` from its bias (a new tensor, the
    caller's model keeps its own); returns how many layers were corrected. Call after calibration, before
    ``convert_pt2e``. ``originals`` maps a weight's ``get_attr`` target to its float weight where the graph
    already holds rounded weights (AdaRound): the shift is then measured against the float weight."""
    means.remove()
    corrected = 0
    with torch.no_grad():
        for layer in conv_linear_layers(model):
            mean = means.mean(layer.input_observer)
            weight = getattr_path(model, layer.weight)
            if mean is None or mean.numel() != weight.shape[1] * conv_groups(layer.node):
                continue  # no mean, or the observer sees the input before a reshape (flatten into linear)
            bias = getattr_path(model, layer.bias)
            original = (originals or {}).get(layer.weight, weight)
            delta = (fake_quant(weight, model.get_submodule(layer.weight_observer)) - original).float()
            if layer.node.target in LINEAR:
                shift = delta @ mean.to(delta.device)
            else:
                groups = conv_groups(layer.node)
                per_in = delta.sum(dim=tuple(range(2, delta.ndim)))  # (out, in / groups)
                x = mean.to(delta.device).reshape(groups, -1)  # (groups, in / groups)
                out_per_group = per_in.shape[0] // groups
                shift = (per_in.reshape(groups, out_per_group, -1) * x[:, None, :]).sum(-1).reshape(-1)
            replace_tensor(model, layer.bias, bias.detach() - shift.to(bias.dtype))
            corrected += 1
    return corrected


def conv_groups(node: Node) -> int:
    """A conv's groups (1 for a linear)."""
    groups = node.args[6] if node.target in CONV and len(node.args) > 6 else 1
    return groups if isinstance(groups, int) else 1


def replace_tensor(model: torch.nn.Module, name: str, value: torch.Tensor) -> None:
    """Point the ``get_attr`` at a new tensor: the captured graph shares its tensors with the caller's
    model, which must keep its own bias."""
    owner_name, _, attr = name.rpartition(".")
    owner = model.get_submodule(owner_name) if owner_name else model
    old = getattr(owner, attr)
    if attr in owner._parameters:
        owner._parameters[attr] = torch.nn.Parameter(value, requires_grad=old.requires_grad)
    elif attr in owner._buffers:
        owner._buffers[attr] = value
    else:
        setattr(owner, attr, value)


def getattr_path(model: torch.nn.Module, name: str) -> torch.Tensor:
    """The tensor a ``get_attr`` node reads (a parameter, a buffer or a plain attribute)."""
    obj: Any = model
    for part in name.split("."):
        obj = getattr(obj, part)
    return obj
