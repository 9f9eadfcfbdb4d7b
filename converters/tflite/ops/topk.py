"""TopK: TFLite's TOPK_V2 (last axis, largest first); another axis is moved last, smallest-k negates.

The indices come out as int32 (TFLite indexes with int32; ONNX says int64).
"""

from __future__ import annotations

from edgekit.converters.tflite.registry import register
from edgekit.converters.tflite.values import Layout, NodeContext, Value, as_layout


@register("TopK")
def topk(ctx: NodeContext) -> list[Value]:
    tf = ctx.tf
    x = ctx.input(0)
    k = int(ctx.const_input(1, "k").reshape(-1)[0])
    rank = x.rank
    axis = int(ctx.attr("axis", -1)) % rank
    largest = bool(ctx.attr("largest", 1))
    t = as_layout(tf, x, Layout.PLAIN)
    perm = [a for a in range(rank) if a != axis] + [axis]
    moved = axis != rank - 1
    if moved:
        t = tf.transpose(t, perm)
    values, indices = tf.math.top_k(t if largest else tf.math.negative(t), k, sorted=True)
    if not largest:
        values = tf.math.negative(values)
    if moved:
        inverse = [perm.index(a) for a in range(rank)]
        values, indices = tf.transpose(values, inverse), tf.transpose(indices, inverse)
    return [Value(values), Value(indices)]
