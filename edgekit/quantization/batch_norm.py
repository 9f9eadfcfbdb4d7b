"""BatchNorm that PT2E cannot fold into a convolution or linear layer (LeViT's ``Linear -> flatten ->
BatchNorm1d``, FastViT's / MobileOne's identity-branch BatchNorm, a BatchNorm after an add): rewritten
before annotation as ``x * scale + shift`` with the eval statistics folded into two constants, so the
quantizer annotates an int8 MUL and an int8 ADD (both TFLite int8 kernels) instead of leaving a float
island (DEQUANTIZE -> MUL -> ADD -> QUANTIZE) in the file."""

from __future__ import annotations

import torch
from torch.fx import GraphModule, Node

aten = torch.ops.aten
#: The eval BatchNorm torch.export writes (``training`` False); folded conv / linear ones are gone already.
BATCH_NORM = {aten.batch_norm.default}


def _constant(model: GraphModule, node: Node | None) -> torch.Tensor | None:
    if node is None:
        return None
    if not isinstance(node, Node) or node.op != "get_attr":
        raise TypeError
    value = model
    for part in str(node.target).split("."):
        value = getattr(value, part)
    assert isinstance(value, torch.Tensor)
    return value.detach()


def decompose_batch_norm(model: GraphModule, node: Node) -> bool:
    """``x * scale + shift`` in place of an eval ``aten.batch_norm`` node (``scale = weight / sqrt(var +
    eps)``, ``shift = bias - mean * scale``, shaped to broadcast over the channel axis 1). Returns False (node
    left alone) in training mode, or when an operand is not a stored constant or the input has no shape. A
    zero-initialised weight (LeViT's residual branches) makes an all-zero product with a degenerate int8
    range; the direct writer widens such an output scale to one LiteRT can rescale to
    (``converters/tflite/direct/rescale.py``)."""
    x = node.args[0]
    if not isinstance(x, Node) or "val" not in x.meta or len(node.args) < 8 or node.args[5]:
        return False
    try:
        weight, bias, mean, var = (_constant(model, a) for a in node.args[1:5])  # type: ignore[arg-type]
    except TypeError:
        return False
    if mean is None or var is None:
        return False
    eps = float(node.args[7])  # type: ignore[arg-type]
    scale = torch.rsqrt(var.float() + eps) * (weight.float() if weight is not None else 1.0)
    shift = (bias.float() if bias is not None else 0.0) - mean.float() * scale
    xv = x.meta["val"]
    shape = (-1,) + (1,) * (xv.dim() - 2)
    graph = model.graph
    names = []
    for kind, value in (("scale", scale), ("shift", shift)):
        name = f"_edgekit_bn_{kind}_{node.name}"
        model.register_buffer(name, value.reshape(shape).contiguous())
        names.append(name)
    with graph.inserting_before(node):
        scale_node, shift_node = (graph.get_attr(name) for name in names)
        product = graph.call_function(aten.mul.Tensor, (x, scale_node))
        out = graph.call_function(aten.add.Tensor, (product, shift_node))
    with xv.fake_mode:
        sv, hv = (xv.fake_mode.from_tensor(getattr(model, name)) for name in names)
        pv = xv * sv
        ov = pv + hv
    meta = {k: v for k, v in node.meta.items() if k != "val"}
    scale_node.meta, shift_node.meta = {**meta, "val": sv}, {**meta, "val": hv}
    product.meta, out.meta = {**meta, "val": pv}, {**meta, "val": ov}
    node.replace_all_uses_with(out)
    graph.erase_node(node)
    return True
