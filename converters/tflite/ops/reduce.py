"""Reductions over axes given in ONNX (NCHW) order."""

from __future__ import annotations

from edgekit.converters.tflite.registry import register
from edgekit.converters.tflite.values import Layout, NodeContext, Value, as_layout, nhwc_axis


def _l2(tf, t, axis, keepdims):
    return tf.sqrt(tf.reduce_sum(tf.square(t), axis=axis, keepdims=keepdims))


def _sum_square(tf, t, axis, keepdims):
    return tf.reduce_sum(tf.square(t), axis=axis, keepdims=keepdims)


@register("ReduceMean", "ReduceMax", "ReduceMin", "ReduceSum", "ReduceProd", "ReduceL2", "ReduceSumSquare")
def reduce(ctx: NodeContext) -> list[Value]:
    tf = ctx.tf
    x = ctx.input(0)
    if len(ctx.inputs) > 1 and ctx.inputs[1] is not None:
        axes = [int(a) for a in ctx.const_input(1, "axes")]
    else:
        axes = list(ctx.attr("axes", []))
    if not axes:
        if ctx.attr("noop_with_empty_axes", 0):
            return [x]
        axes = list(range(x.rank))
    axes = sorted(a % x.rank for a in axes)
    keepdims = bool(ctx.attr("keepdims", 1))
    fn = {
        "ReduceMean": tf.reduce_mean,
        "ReduceMax": tf.reduce_max,
        "ReduceMin": tf.reduce_min,
        "ReduceSum": tf.reduce_sum,
        "ReduceProd": tf.reduce_prod,
        "ReduceL2": lambda t, axis, keepdims: _l2(tf, t, axis, keepdims),  # cosine attention (Swin V2)
        "ReduceSumSquare": lambda t, axis, keepdims: _sum_square(tf, t, axis, keepdims),
    }[ctx.node.op_type]
    if x.layout is Layout.NHWC:
        kept_nchw = [a for a in range(4) if a not in axes]
        kept_nhwc = [a for a in (0, 2, 3, 1) if a not in axes]
        if keepdims or kept_nchw == kept_nhwc:
            out = fn(x.data, axis=[nhwc_axis(a) for a in axes], keepdims=keepdims)
            return [Value(out, Layout.NHWC if keepdims else Layout.PLAIN)]
    return [Value(fn(as_layout(tf, x, Layout.PLAIN), axis=axes, keepdims=keepdims))]
