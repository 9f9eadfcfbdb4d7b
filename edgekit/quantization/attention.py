"""Scaled dot-product attention for int8 TFLite: ``aten.scaled_dot_product_attention`` rewritten before
annotation into the ops TFLite runs in int8, ``softmax(q @ k^T * scale [+ mask]) @ v`` (BATCH_MATMUL, MUL,
ADD, SOFTMAX with its fixed 1/256 range, BATCH_MATMUL), so PyTorch rounds where the .tflite does."""

from __future__ import annotations

import torch
from torch.fx import Graph, Node

aten = torch.ops.aten
#: Set on the nodes that only compute an attention mask (HF's ``(1 - mask) * finfo.min``): the quantizer
#: leaves them float, and the mask is quantized once, where the int8 ADD reads it.
MASK_TAG = "edgekit_attention_mask"
SDPA = {aten.scaled_dot_product_attention.default}
#: How far below the unmasked scores a masked attention score is pushed (``where(mask, 0, -MASK_DEPTH)`` for a
#: boolean mask; an additive float mask is clamped to ``-MASK_DEPTH``): TFLite's int8 SOFTMAX writes at scale
#: 1/256, so a weight exp(-d) below 1/512 (d > 6.2 below the row's maximum) is exactly 0. A finite depth
#: keeps the int8 ADD's output range narrow (HF's ``finfo.min`` mask would make its scale ~1e36).
MASK_DEPTH = 16.0


def _additive_mask(graph: Graph, mask: Node, cache: dict[Node, Node]) -> Node:
    """The mask as an additive float tensor bounded below by ``-MASK_DEPTH``, one per mask node (every
    layer's ADD reads the same tensor, so the file quantizes it once)."""
    if mask in cache:
        return cache[mask]
    mv = mask.meta["val"]
    with graph.inserting_after(mask):
        if mv.dtype == torch.bool:
            additive = graph.call_function(aten.where.Scalar, (mask, 0.0, -MASK_DEPTH))
        else:
            additive = graph.call_function(aten.clamp.default, (mask, -MASK_DEPTH))
    with mv.fake_mode:
        value = torch.where(mv, 0.0, -MASK_DEPTH) if mv.dtype == torch.bool else mv.clamp(-MASK_DEPTH)
    additive.meta = {**{key: val for key, val in mask.meta.items() if key != "val"}, "val": value}
    cache[mask] = additive
    _tag_mask_preparation(mask, additive)
    return additive


def _tag_mask_preparation(mask: Node, additive: Node) -> None:
    """Tag ``mask`` and the ops before it that feed nothing but the mask (``MASK_TAG``): left unannotated,
    they stay float in PyTorch and in the file, so ``finfo.min`` never reaches an int8 range (an int8 MUL
    by it would have a scale of ~1e36); the quantized tensor is the bounded additive mask."""
    cone = {additive}
    stack = [mask]
    while stack:
        node = stack.pop()
        if node.op != "call_function" or node in cone:
            continue
        if not all(user in cone or user.target in SDPA for user in node.users):
            continue
        cone.add(node)
        node.meta[MASK_TAG] = True
        stack.extend(a for a in node.all_input_nodes)


def decompose_attention(graph: Graph, node: Node, masks: dict[Node, Node]) -> bool:
    """``softmax(q @ k^T * scale [+ mask]) @ v`` in place of a dropout-free, non-causal SDPA node. A mask
    becomes an additive tensor (``_additive_mask``) that an int8 ADD reads at its own scale; a row whose
    every key is masked gets equal weights (the mean of v) where PyTorch's SDPA writes zeros: int8 has no
    NaN / -inf to mark it, and a padding mask never masks every key of a row."""
    q, k, v = node.args[:3]
    if not all(isinstance(t, Node) and "val" in t.meta for t in (q, k, v)):
        return False
    assert isinstance(q, Node) and isinstance(k, Node) and isinstance(v, Node)
    extra = dict(zip(("attn_mask", "dropout_p", "is_causal"), node.args[3:], strict=False)) | dict(
        node.kwargs
    )
    mask = extra.get("attn_mask")
    if mask is not None and not (isinstance(mask, Node) and "val" in mask.meta):
        return False
    if extra.get("dropout_p", 0.0) or extra.get("is_causal", False) or extra.get("enable_gqa", False):
        return False
    scale = extra.get("scale") or 1.0 / float(q.meta["val"].shape[-1]) ** 0.5
    additive = _additive_mask(graph, mask, masks) if mask is not None else None
    with graph.inserting_before(node):
        kt = graph.call_function(aten.transpose.int, (k, -2, -1))
        scores = graph.call_function(aten.matmul.default, (q, kt))
        scaled = graph.call_function(aten.mul.Tensor, (scores, scale))
        masked = scaled if additive is None else graph.call_function(aten.add.Tensor, (scaled, additive))
        weights = graph.call_function(aten.softmax.int, (masked, -1))
        out = graph.call_function(aten.matmul.default, (weights, v))
    qv, kv, vv = q.meta["val"], k.meta["val"], v.meta["val"]
    with qv.fake_mode:  # the observers go where the output is a float tensor: give each node its value
        values = [kv.transpose(-2, -1)]
        values.append(qv @ values[0])
        values.append(values[1] * scale)
        if additive is not None:
            values.append(values[2] + additive.meta["val"])
        values.append(values[-1].softmax(-1))
        values.append(values[-1] @ vv)
    new_nodes = (kt, scores, scaled, *(() if additive is None else (masked,)), weights, out)
    for new, value in zip(new_nodes, values, strict=True):
        new.meta = {**{key: val for key, val in node.meta.items() if key != "val"}, "val": value}
    node.replace_all_uses_with(out)
    graph.erase_node(node)
    return True
