"""InstanceNormalization: each (sample, channel) map normalised over its spatial axes, then scaled."""

from __future__ import annotations

import numpy as np

from edgekit.converters.tflite.registry import register
from edgekit.converters.tflite.values import Layout, NodeContext, Value, as_layout


@register("InstanceNormalization")
def instance_norm(ctx: NodeContext) -> list[Value]:
    tf = ctx.tf
    x = ctx.input(0)
    eps = float(ctx.attr("epsilon", 1e-5))
    scale = ctx.const_input(1, "scale").astype(np.float32)
    bias = ctx.const_input(2, "bias").astype(np.float32)
    channel_shape: tuple[int, ...] = (-1,)
    if x.layout is Layout.NHWC:  # channels last: spatial axes 1, 2
        t, axes = x.data, [1, 2]
    else:
        t, axes = as_layout(tf, x, Layout.PLAIN), list(range(2, x.rank))
        channel_shape = (-1,) + (1,) * (x.rank - 2)
    mean = tf.reduce_mean(t, axis=axes, keepdims=True)
    centered = t - mean
    var = tf.reduce_mean(tf.math.square(centered), axis=axes, keepdims=True)
    y = centered * tf.math.rsqrt(var + eps) * scale.reshape(channel_shape) + bias.reshape(channel_shape)
    return [Value(y, x.layout if x.layout is Layout.NHWC else Layout.PLAIN)]
