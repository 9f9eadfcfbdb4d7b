"""BatchNormalization (inference) and LayerNormalization."""

from __future__ import annotations

import numpy as np

from edgekit.converters.tflite.registry import register
from edgekit.converters.tflite.values import Layout, NodeContext, Value, as_layout, to_tensor


@register("BatchNormalization")
def batch_norm(ctx: NodeContext) -> list[Value]:
    x = ctx.input(0)
    gamma, beta, mean, var = (
        ctx.const_input(i, name).astype(np.float64)
        for i, name in ((1, "scale"), (2, "bias"), (3, "mean"), (4, "variance"))
    )
    scale = gamma / np.sqrt(var + float(ctx.attr("epsilon", 1e-5)))
    shift = beta - mean * scale
    if x.layout is not Layout.NHWC and x.rank > 2:  # channel axis 1 of [N, C, ...]
        shape = (-1,) + (1,) * (x.rank - 2)
        scale, shift = scale.reshape(shape), shift.reshape(shape)
    y = to_tensor(ctx.tf, x) * scale.astype(np.float32) + shift.astype(np.float32)
    return [Value(y, x.layout)]


@register("LayerNormalization")
def layer_norm(ctx: NodeContext) -> list[Value]:
    tf = ctx.tf
    x = ctx.input(0)
    axis = int(ctx.attr("axis", -1)) % x.rank
    eps = float(ctx.attr("epsilon", 1e-5))
    if x.layout is Layout.NHWC and axis == 1:  # normalise over channels: the last axis in NHWC
        t, axes = x.data, [3]
    else:
        t, axes = as_layout(tf, x, Layout.PLAIN), list(range(axis, x.rank))
    mean = tf.reduce_mean(t, axis=axes, keepdims=True)
    centered = t - mean
    var = tf.reduce_mean(tf.math.square(centered), axis=axes, keepdims=True)
    y = centered * tf.math.rsqrt(var + eps)
    layout = Layout.NHWC if axes == [3] and x.layout is Layout.NHWC else Layout.PLAIN
    if len(ctx.inputs) > 1 and ctx.inputs[1] is not None:
        y = y * ctx.const_input(1, "scale").astype(np.float32)
    if len(ctx.inputs) > 2 and ctx.inputs[2] is not None:
        y = y + ctx.const_input(2, "bias").astype(np.float32)
    return [Value(y, layout)]
