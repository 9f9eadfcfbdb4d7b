"""BatchNorm that PT2E cannot fold into a convolution or linear layer: after a Linear through a flatten
(LeViT's ``Linear -> flatten -> BatchNorm1d``) it is folded into the Linear's weight and bias before
annotation; elsewhere (FastViT's / MobileOne's identity-branch BatchNorm, a BatchNorm after an add) it is
rewritten as ``x * scale + shift`` with the eval statistics folded into two constants, so the
quantizer annotates an int8 MUL and an int8 ADD (both TFLite int8 kernels) instead of leaving a float
island (DEQUANTIZE -> MUL -> ADD -> QUANTIZE) in the file."""

from __future__ import annotations

import torch
from torch.fx import GraphModule, Node

aten = torch.ops.aten
#: The eval BatchNorm torch.export writes (``training`` False); folded conv / linear ones are gone already.
BATCH_NORM = {aten.batch_norm.default}
#: Ops between a Linear and its BatchNorm1d that keep the feature axis last (LeViT's ``flatten(0, 1)``).
RESHAPES = {aten.flatten.using_ints, aten.view.default, aten.reshape.default, aten._unsafe_view.default}
#: Ops that read only the shape of their second operand.
SHAPE_OF = {aten.reshape_as.default, aten.view_as.default, aten.expand_as.default}


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


def _statistics(model: GraphModule, node: Node) -> tuple[torch.Tensor, torch.Tensor] | None:
    """``(scale, shift)`` of an eval BatchNorm node (``y = x * scale + shift`` per channel), None when it is
    in training mode or an operand is not a stored constant."""
    if len(node.args) < 8 or node.args[5]:
        return None
    try:
        weight, bias, mean, var = (_constant(model, a) for a in node.args[1:5])  # type: ignore[arg-type]
    except TypeError:
        return None
    if mean is None or var is None:
        return None
    eps = float(node.args[7])  # type: ignore[arg-type]
    scale = torch.rsqrt(var.float() + eps) * (weight.float() if weight is not None else 1.0)
    shift = (bias.float() if bias is not None else 0.0) - mean.float() * scale
    return scale, shift


def _linear_before(node: Node) -> Node | None:
    """The Linear whose output reaches ``node`` (a BatchNorm1d on a 2-D input) through reshapes that keep
    the feature axis last, each used once; None otherwise."""
    x = node.args[0]
    if not isinstance(x, Node) or "val" not in x.meta or x.meta["val"].dim() != 2:
        return None
    channels = x.meta["val"].shape[1]
    path = node  # the user of ``x`` on the way to the BatchNorm
    while x.op == "call_function" and x.target in RESHAPES and len(x.users) == 1:
        path, x = x, x.args[0]  # type: ignore[assignment]
        if not isinstance(x, Node) or "val" not in x.meta or x.meta["val"].shape[-1] != channels:
            return None
    if x.op != "call_function" or x.target != aten.linear.default:
        return None
    # its other users may only read its shape (LeViT's ``reshape_as(x)`` back to the Linear's output)
    others = [user for user in x.users if user is not path]
    if not all(_reads_shape_only(user, x) for user in others):
        return None
    return x


def _reads_shape_only(user: Node, node: Node) -> bool:
    if user.target == aten.sym_size.int:
        return True
    return user.target in SHAPE_OF and node not in user.args[:1]


def fold_into_linear(model: GraphModule, node: Node) -> bool:
    """Fold an eval BatchNorm1d that reads a Linear through a flatten (LeViT's ``LinearNorm``) into that
    Linear's weight and bias: ``W * scale[:, None]``, ``b * scale + shift``. PT2E folds BatchNorm only
    right after a conv / linear; folded here, the per-channel int8 weight absorbs each channel's scale and
    no MUL / ADD (two more int8 roundings, a per-tensor int8 scale vector) is left. Returns False (node left
    alone) when the pattern or the constants are not there."""
    linear = _linear_before(node)
    stats = _statistics(model, node)
    if linear is None or stats is None or not isinstance(linear.args[1], Node):
        return False
    try:
        weight = _constant(model, linear.args[1])
        bias = _constant(model, linear.args[2] if len(linear.args) > 2 else None)  # type: ignore[arg-type]
    except TypeError:
        return False
    assert weight is not None
    scale, shift = stats
    folded = {
        "weight": (weight.float() * scale[:, None]).to(weight.dtype),
        "bias": ((bias.float() if bias is not None else 0.0) * scale + shift).to(weight.dtype),
    }
    graph = model.graph
    fake_mode = linear.meta["val"].fake_mode
    new = []
    for kind, value in folded.items():
        name = f"_edgekit_bn_{kind}_{node.name}"
        model.register_buffer(name, value.contiguous())
        with graph.inserting_before(linear):
            attr = graph.get_attr(name)
        attr.meta = {"val": fake_mode.from_tensor(getattr(model, name))}
        new.append(attr)
    linear.args = (linear.args[0], *new, *linear.args[3:])
    node.replace_all_uses_with(node.args[0])  # type: ignore[arg-type]
    graph.erase_node(node)
    return True


def decompose_batch_norm(model: GraphModule, node: Node) -> bool:
    """``x * scale + shift`` in place of an eval ``aten.batch_norm`` node (``scale = weight / sqrt(var +
    eps)``, ``shift = bias - mean * scale``, shaped to broadcast over the channel axis 1). Returns False (node
    left alone) in training mode, or when an operand is not a stored constant or the input has no shape. A
    zero-initialised weight (LeViT's residual branches) makes an all-zero product with a degenerate int8
    range; the direct writer widens such an output scale to one LiteRT can rescale to
    (``converters/tflite/direct/rescale.py``)."""
    x = node.args[0]
    stats = _statistics(model, node)
    if not isinstance(x, Node) or "val" not in x.meta or stats is None:
        return False
    scale, shift = stats
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
