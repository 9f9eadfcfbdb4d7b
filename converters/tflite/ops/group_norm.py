"""GroupNormalization (opset 18: scale/bias per group; opset 21: per channel)."""

from __future__ import annotations

import numpy as np

from edgekit.converters.tflite.registry import register
from edgekit.converters.tflite.values import Layout, NodeContext, Value, as_layout
from edgekit.errors import UnsupportedOpError


def _per_channel(values: np.ndarray, groups: int, channels: int) -> np.ndarray:
    flat = values.astype(np.float32).reshape(-1)
    if flat.size == channels:
        return flat
    if flat.size == groups:
        return np.repeat(flat, channels // groups)
    raise UnsupportedOpError(f"GroupNormalization: scale/bias of {flat.size} values for {channels} channels")


@register("GroupNormalization")
def group_norm(ctx: NodeContext) -> list[Value]:
    tf = ctx.tf
    x = ctx.input(0)
    groups = int(ctx.attr("num_groups"))
    eps = float(ctx.attr("epsilon", 1e-5))
    shape = x.onnx_shape
    n, channels = shape[0], shape[1]
    if channels % groups:
        raise UnsupportedOpError(
            f"GroupNormalization node {ctx.node.name!r}: {channels} channels do not split into {groups} groups"
        )
    scale = _per_channel(ctx.const_input(1, "scale"), groups, channels)
    bias = _per_channel(ctx.const_input(2, "bias"), groups, channels)
    channel_shape: tuple[int, ...]
    if x.layout is Layout.NHWC:  # [N, H, W, C] -> [N, H*W, G, C/G]
        t = x.data
        grouped = tf.reshape(t, (n, shape[2] * shape[3], groups, channels // groups))
        axes, channel_shape = [1, 3], (-1,)
    else:  # [N, C, ...] -> [N, G, C/G * ...]
        t = as_layout(tf, x, Layout.PLAIN)
        grouped = tf.reshape(t, (n, groups, -1))
        axes, channel_shape = [2], (-1,) + (1,) * (x.rank - 2)
    mean = tf.reduce_mean(grouped, axis=axes, keepdims=True)
    centered = grouped - mean
    var = tf.reduce_mean(tf.math.square(centered), axis=axes, keepdims=True)
    normed = tf.reshape(centered * tf.math.rsqrt(var + eps), tuple(int(d) for d in t.shape))
    y = normed * scale.reshape(channel_shape) + bias.reshape(channel_shape)
    return [Value(y, Layout.NHWC if x.layout is Layout.NHWC else Layout.PLAIN)]
