"""1-D convolution / pooling as the 2-D op on a height-1 map: [N, C, L] is held as NHWC [N, 1, L, C]."""

from __future__ import annotations

from typing import Any

import numpy as np

from edgekit.converters.tflite.values import Layout, NodeContext, QuantizedConstant, Value, as_layout

_WINDOW_ATTRS = ("kernel_shape", "strides", "dilations", "output_padding")


def _weight_2d(value: Value | None) -> Value | None:
    """A constant [O, I, k] weight as [O, I, 1, k] (a quantized one keeps its scales and axis)."""
    if value is None or not value.is_const:
        return value
    data = value.data
    if isinstance(data, QuantizedConstant):
        values = data.values[:, :, None, :]
        return Value(QuantizedConstant(values, data.scale, data.zero_point, data.axis, data.dtype))
    return Value(np.asarray(data)[:, :, None, :])


def as_2d(ctx: NodeContext, weight_input: bool) -> NodeContext:
    """``ctx`` of a 1-D node seen as the same node over a height-1 image (input 0 NHWC, window attrs 2-D)."""
    tf = ctx.tf
    x = ctx.input(0)
    n, c, length = x.onnx_shape
    xt = tf.reshape(tf.transpose(as_layout(tf, x, Layout.PLAIN), [0, 2, 1]), (n, 1, length, c))
    inputs: list[Value | None] = [Value(xt, Layout.NHWC), *ctx.inputs[1:]]
    if weight_input:
        inputs[1] = _weight_2d(inputs[1])
    attrs: dict[str, Any] = dict(ctx.attrs)
    for key in _WINDOW_ATTRS:
        if key in attrs:
            attrs[key] = [0 if key == "output_padding" else 1, *attrs[key]]
    if "pads" in attrs:
        before, after = attrs["pads"]
        attrs["pads"] = [0, before, 0, after]
    return NodeContext(ctx.node, inputs, attrs, tf, ctx.opset, ctx.notes)


def back_to_1d(tf: Any, value: Value) -> Value:
    """The [N, C, 1, L] result of a 2-D op on a height-1 map as the [N, C, L] ONNX tensor."""
    n, c, _one, length = value.onnx_shape
    nhwc = as_layout(tf, value, Layout.NHWC)
    return Value(tf.transpose(tf.reshape(nhwc, (n, length, c)), [0, 2, 1]))
