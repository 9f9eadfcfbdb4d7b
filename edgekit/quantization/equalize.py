"""Cross-layer equalization (Nagel et al. 2019, "Data-Free Quantization", section 4.1).

Two convolutions in a row, ``conv2(act(conv1(x)))``, compute the same function when output channel ``i``
of ``conv1`` (weights and bias) is divided by ``s_i`` and input channel ``i`` of ``conv2`` multiplied by
``s_i``, provided ``act`` is positive-homogeneous (``act(x / s) = act(x) / s`` for ``s > 0``: identity
and ReLU are, ReLU6 is not). ``s_i = sqrt(r1_i / r2_i)`` (``r`` the channel's largest absolute weight)
makes both channel ranges equal, so per-channel int8 weights lose less to rounding. Runs on a PT2E-prepared
graph before calibration (BatchNorm already folded); every rescaled tensor is a new tensor, the caller's
model keeps its own.

Between two convolutions only the graph's observers and at most one ReLU may stand, and each value in
the chain has one user (a residual branch reads ``conv1``'s output unscaled). With ``relu6_as_relu`` a
ReLU6 there is replaced by ReLU first, as AIMET does: this changes the float model wherever an activation
exceeded 6.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch
from torch.fx import GraphModule, Node
from torchao.quantization.pt2e import ObserverBase

from edgekit.quantization.bias_correction import conv_groups, getattr_path, replace_tensor

log = logging.getLogger(__name__)

aten = torch.ops.aten
CONV2D = {aten.conv2d.default}
RELU = {aten.relu.default, aten.relu_.default}
HARDTANH = {aten.hardtanh.default, aten.hardtanh_.default}
ROUNDS = 100  # equalization sweeps over the chain; each sweep moves every scale closer to 1
TOLERANCE = 1e-4


@dataclass
class Pair:
    """Two convolutions joined by observers and at most one ReLU (``relu6`` when it was a ReLU6)."""

    first: Node
    second: Node
    relu6: Node | None


def weight_attr(node: Node) -> str | None:
    """The ``get_attr`` target of a conv's weight (read through its observer)."""
    w = node.args[1]
    if isinstance(w, Node) and w.op == "call_module" and w.args and isinstance(w.args[0], Node):
        w = w.args[0]
    return str(w.target) if isinstance(w, Node) and w.op == "get_attr" else None


def _bias_attr(node: Node) -> str | None:
    b = node.args[2] if len(node.args) > 2 else None
    return str(b.target) if isinstance(b, Node) and b.op == "get_attr" else None


def _is_relu6(node: Node) -> bool:
    return node.target in HARDTANH and tuple(node.args[1:3]) == (0.0, 6.0)


def find_pairs(model: GraphModule, relu6_as_relu: bool) -> list[Pair]:
    """Every conv2d whose only consumer (through observers and one ReLU, or one ReLU6 when
    ``relu6_as_relu``) is another conv2d reading it as its input."""
    pairs = []
    for node in model.graph.nodes:
        if node.op != "call_function" or node.target not in CONV2D or weight_attr(node) is None:
            continue
        current, activation, relu6 = node, False, None
        while len(current.users) == 1:
            user = next(iter(current.users))
            if user.op == "call_module" and isinstance(model.get_submodule(str(user.target)), ObserverBase):
                current = user
            elif not activation and (user.target in RELU or (relu6_as_relu and _is_relu6(user))):
                activation, relu6 = True, user if user.target in HARDTANH else None
                current = user
            else:
                if (
                    user.op == "call_function"
                    and user.target in CONV2D
                    and user.args[0] is current
                    and weight_attr(user) is not None
                    and conv_groups(user) in (1, _channels(model, node))
                ):
                    pairs.append(Pair(node, user, relu6))
                break
    return pairs


def _channels(model: GraphModule, conv: Node) -> int:
    attr = weight_attr(conv)
    return int(getattr_path(model, attr).shape[0]) if attr else 0


def _scale_pair(model: GraphModule, pair: Pair) -> float:
    """Equalize one pair in place of its tensors; returns the largest ``|log s|`` applied."""
    w1_name, w2_name = weight_attr(pair.first), weight_attr(pair.second)
    assert w1_name is not None and w2_name is not None
    w1, w2 = getattr_path(model, w1_name).detach(), getattr_path(model, w2_name).detach()
    channels = w1.shape[0]
    r1 = w1.abs().reshape(channels, -1).amax(1)
    depthwise = conv_groups(pair.second) != 1
    if depthwise:  # (channels * multiplier, 1, k, k): output j reads input channel j // multiplier
        r2 = w2.abs().reshape(channels, -1).amax(1)
    else:
        r2 = w2.abs().transpose(0, 1).reshape(channels, -1).amax(1)
    s = torch.where((r1 > 0) & (r2 > 0), (r1 / r2.clamp_min(1e-30)).sqrt(), torch.ones_like(r1))
    shape1 = (channels,) + (1,) * (w1.ndim - 1)
    replace_tensor(model, w1_name, w1 / s.reshape(shape1))
    bias = _bias_attr(pair.first)
    if bias is not None:
        replace_tensor(model, bias, getattr_path(model, bias).detach() / s)
    if depthwise:
        scaled = w2 * s.repeat_interleave(w2.shape[0] // channels).reshape(-1, 1, 1, 1)
    else:
        scaled = w2 * s.reshape(1, channels, 1, 1)
    replace_tensor(model, w2_name, scaled)
    return float(s.log().abs().max())


def equalize(model: GraphModule, relu6_as_relu: bool = False) -> int:
    """Cross-layer equalize every conv pair of a PT2E-prepared ``model`` (before calibration); returns the
    number of pairs. ``relu6_as_relu`` first turns each ReLU6 between a pair into a ReLU.

    >>> import edgekit as ek                                                        # doctest: +SKIP
    >>> config = ek.QuantConfig(equalization="relu6_as_relu")                       # doctest: +SKIP
    >>> ek.quantize(model, x, config=config, calibrate=batches)                     # doctest: +SKIP
    """
    pairs = find_pairs(model, relu6_as_relu)
    for pair in pairs:
        if pair.relu6 is not None:
            pair.relu6.target = aten.relu.default
            pair.relu6.args = pair.relu6.args[:1]
    if any(pair.relu6 is not None for pair in pairs):
        model.recompile()
    sweeps = 0
    with torch.no_grad():
        while pairs and sweeps < ROUNDS:
            sweeps += 1
            if max(_scale_pair(model, pair) for pair in pairs) < TOLERANCE:
                break
    log.info(
        "cross-layer equalization: %d conv pairs (%d through a ReLU6 made ReLU), %d sweeps",
        len(pairs),
        sum(pair.relu6 is not None for pair in pairs),
        sweeps,
    )
    return len(pairs)
