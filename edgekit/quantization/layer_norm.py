"""LayerNorm for int8 TFLite: TFLite has no LayerNorm kernel, so the writer lowers it to MEAN, SUB, MUL,
MEAN, ADD, RSQRT, MUL, MUL, ADD. With ``QuantConfig(layer_norm="int8")`` the quantizer rewrites
``aten.layer_norm`` into those ops before annotation so that each gets its own observed int8 range and the
whole normalisation runs on LiteRT's int8 kernels; by default it stays a float island (measured choice:
``benchmarks/int8_coverage.py --layer-norm`` and the README's LayerNorm table)."""

from __future__ import annotations

from typing import Any

import torch
from torch.fx import Graph, Node

aten = torch.ops.aten
LAYER_NORM = {aten.layer_norm.default}
#: Set on every node the rewrite creates: the quantizer annotates each with its own activation range.
TAG = "edgekit_int8_layer_norm"


def decompose_layer_norm(graph: Graph, node: Node) -> bool:
    """``(x - mean) * rsqrt(mean((x - mean)^2) + eps) * weight + bias`` in place of ``node``.

    The square is a MUL of the difference by itself (TFLite's SQUARE has no int8 kernel); ``aten.rsqrt``
    exports as ONNX Reciprocal(Sqrt), which the direct writer fuses back into RSQRT. Returns False (node left
    alone) when the input has no recorded shape.
    """
    x = node.args[0]
    if not isinstance(x, Node) or "val" not in x.meta:
        return False
    shape = node.args[1]
    weight = node.args[2] if len(node.args) > 2 else node.kwargs.get("weight")
    bias = node.args[3] if len(node.args) > 3 else node.kwargs.get("bias")
    given = node.args[4] if len(node.args) > 4 else node.kwargs.get("eps", 1e-5)
    if not isinstance(given, int | float):
        return False
    eps = float(given)
    dims = list(range(-len(shape), 0))  # type: ignore[arg-type]
    xv = x.meta["val"]
    steps: list[tuple[Node, Any]] = []
    with graph.inserting_before(node):
        mean = graph.call_function(aten.mean.dim, (x, dims, True))
        centered = graph.call_function(aten.sub.Tensor, (x, mean))
        squared = graph.call_function(aten.mul.Tensor, (centered, centered))
        variance = graph.call_function(aten.mean.dim, (squared, dims, True))
        shifted = graph.call_function(aten.add.Tensor, (variance, eps))
        inverse = graph.call_function(aten.rsqrt.default, (shifted,))
        out = graph.call_function(aten.mul.Tensor, (centered, inverse))
        with xv.fake_mode:
            mv = xv.mean(dims, keepdim=True)
            cv = xv - mv
            vv = (cv * cv).mean(dims, keepdim=True)
            iv = torch.rsqrt(vv + eps)
            ov = cv * iv
            steps += [(mean, mv), (centered, cv), (squared, cv * cv), (variance, vv)]
            steps += [(shifted, vv + eps), (inverse, iv), (out, ov)]
            if isinstance(weight, Node):
                out = graph.call_function(aten.mul.Tensor, (out, weight))
                ov = ov * weight.meta["val"]
                steps.append((out, ov))
            if isinstance(bias, Node):
                out = graph.call_function(aten.add.Tensor, (out, bias))
                ov = ov + bias.meta["val"]
                steps.append((out, ov))
    for new, value in steps:
        new.meta = {**{k: v for k, v in node.meta.items() if k != "val"}, "val": value, TAG: True}
    node.replace_all_uses_with(out)
    graph.erase_node(node)
    return True
