"""Conv: regular, depthwise and grouped 2-D convolutions (NHWC), with int8 weights from QDQ models; 1-D ones
as 2-D on a height-1 map, 3-D ones as CONV_3D (NDHWC)."""

from __future__ import annotations

from typing import Any

import numpy as np

from edgekit.converters.tflite.ops._one_d import as_2d, back_to_1d
from edgekit.converters.tflite.ops._padding import onnx_pads, tf_padding
from edgekit.converters.tflite.registry import register
from edgekit.converters.tflite.values import (
    Layout,
    NodeContext,
    QuantizedConstant,
    Value,
    as_layout,
    kernel_constant,
)
from edgekit.converters.tflite.weights import constant
from edgekit.errors import UnsupportedOpError


def _bias(ctx: NodeContext, y: Any, start: int = 0, stop: int | None = None) -> Any:
    """``y`` plus the bias (channels ``start:stop`` of it: one group of a grouped convolution)."""
    if len(ctx.inputs) > 2 and ctx.inputs[2] is not None:
        bias = ctx.const_input(2, "bias").astype(np.float32)[start:stop]
        return ctx.tf.nn.bias_add(y, constant(ctx.tf, bias))
    return y


def _sub_weight(value: Value, weight: np.ndarray, start: int, stop: int) -> Value:
    data = value.data
    if isinstance(data, QuantizedConstant):
        scale = data.scale if data.scale.size == 1 else data.scale[start:stop]
        zp = data.zero_point if data.zero_point.size == 1 else data.zero_point[start:stop]
        return Value(QuantizedConstant(weight[start:stop], scale, zp, data.axis, data.dtype))
    return Value(weight[start:stop])


@register("Conv")
def conv(ctx: NodeContext) -> list[Value]:
    tf = ctx.tf
    x, w = ctx.input(0), ctx.input(1)
    name = ctx.node.name
    if x.rank == 3:
        return [back_to_1d(tf, conv(as_2d(ctx, weight_input=True))[0])]
    if x.rank == 5:
        return [_conv3d(ctx)]
    if x.rank != 4:
        raise UnsupportedOpError(f"Conv node {name!r}: only 1-D, 2-D and 3-D convolutions are supported")
    weight = ctx.const_input(1, "the weight")
    out_c, in_per_group, kh, kw = weight.shape
    group = int(ctx.attr("group", 1))
    strides = list(ctx.attr("strides", [1, 1]))
    dilations = list(ctx.attr("dilations", [1, 1]))
    spatial = x.onnx_shape[2:]
    pads = onnx_pads(ctx.attrs, spatial, (kh, kw), strides, dilations, name)
    padding = tf_padding(pads, spatial, (kh, kw), strides, dilations)
    xt = as_layout(tf, x, Layout.NHWC)
    if padding is None:
        xt = tf.pad(xt, [[0, 0], list(pads[0]), list(pads[1]), [0, 0]])
        padding = "VALID"
    in_c = x.onnx_shape[1]

    if group == 1:
        kernel = kernel_constant(tf, w, weight.transpose(2, 3, 1, 0), channel_axis=3)
        y = tf.nn.conv2d(xt, kernel, strides=strides, padding=padding, dilations=dilations)
    elif group == in_c and in_per_group == 1:
        mult = out_c // in_c
        flat = weight.reshape(out_c, kh, kw).transpose(1, 2, 0)[:, :, None, :]  # [kh, kw, 1, C*mult]
        kernel = tf.reshape(kernel_constant(tf, w, flat, channel_axis=3), (kh, kw, in_c, mult))
        y = tf.nn.depthwise_conv2d(xt, kernel, strides=[1, *strides, 1], padding=padding, dilations=dilations)
    else:
        per_out = out_c // group
        parts = tf.split(xt, group, axis=3)
        outs = []
        for g, part in enumerate(parts):
            sub = _sub_weight(w, weight, g * per_out, (g + 1) * per_out)
            kernel = kernel_constant(tf, sub, sub.const.transpose(2, 3, 1, 0), channel_axis=3)
            y = tf.nn.conv2d(part, kernel, strides=strides, padding=padding, dilations=dilations)
            # each group adds its own bias slice, so the bias fuses into its CONV_2D and an int8 model's
            # CONCATENATION reads the convolutions directly (they write at its scale)
            outs.append(_bias(ctx, y, g * per_out, (g + 1) * per_out))
        return [Value(tf.concat(outs, axis=3), Layout.NHWC)]
    return [Value(_bias(ctx, y), Layout.NHWC)]


def _conv3d(ctx: NodeContext) -> Value:
    """A 3-D convolution as CONV_3D on the NDHWC tensor; the result goes back to NCDHW (PLAIN)."""
    tf = ctx.tf
    x, w = ctx.input(0), ctx.input(1)
    name = ctx.node.name
    weight = ctx.const_input(1, "the weight")  # [O, I, kd, kh, kw]
    if int(ctx.attr("group", 1)) != 1:
        raise UnsupportedOpError(
            f"Conv node {name!r}: grouped 3-D convolutions are not supported (TFLite's CONV_3D has no groups); "
            "split the layer into group=1 convolutions in the model"
        )
    window = weight.shape[2:]
    strides = list(ctx.attr("strides", [1, 1, 1]))
    dilations = list(ctx.attr("dilations", [1, 1, 1]))
    spatial = x.onnx_shape[2:]
    pads = onnx_pads(ctx.attrs, spatial, window, strides, dilations, name)
    padding = tf_padding(pads, spatial, window, strides, dilations)
    xt = tf.transpose(as_layout(tf, x, Layout.PLAIN), [0, 2, 3, 4, 1])
    if padding is None:
        xt = tf.pad(xt, [[0, 0], *[list(p) for p in pads], [0, 0]])
        padding = "VALID"
    kernel = kernel_constant(tf, w, weight.transpose(2, 3, 4, 1, 0), channel_axis=4)
    y = tf.nn.conv3d(xt, kernel, strides=[1, *strides, 1], padding=padding, dilations=[1, *dilations, 1])
    return Value(tf.transpose(_bias(ctx, y), [0, 4, 1, 2, 3]))


@register("ConvTranspose")
def conv_transpose(ctx: NodeContext) -> list[Value]:
    tf = ctx.tf
    x = ctx.input(0)
    name = ctx.node.name
    if x.rank == 3:
        return [back_to_1d(tf, conv_transpose(as_2d(ctx, weight_input=True))[0])]
    weight = ctx.const_input(1, "the weight")  # [in, out/group, kh, kw]
    if x.rank != 4 or int(ctx.attr("group", 1)) != 1:
        raise UnsupportedOpError(
            f"ConvTranspose node {name!r}: only 1-D / 2-D, group=1 transposed convolutions are supported"
        )
    if any(d != 1 for d in ctx.attr("dilations", [1, 1])) or any(ctx.attr("output_padding", [0, 0])):
        raise UnsupportedOpError(f"ConvTranspose node {name!r}: dilation / output_padding are not supported")
    strides = list(ctx.attr("strides", [1, 1]))
    _in_c, out_c, kh, kw = weight.shape
    n, _, h, wd = x.onnx_shape
    pads = list(ctx.attr("pads", [0, 0, 0, 0]))
    full_h, full_w = (h - 1) * strides[0] + kh, (wd - 1) * strides[1] + kw
    kernel = kernel_constant(tf, ctx.input(1), weight.transpose(2, 3, 1, 0), channel_axis=2)
    y = tf.nn.conv2d_transpose(
        as_layout(tf, x, Layout.NHWC), kernel, (n, full_h, full_w, out_c), strides, "VALID"
    )
    y = y[:, pads[0] : full_h - pads[2], pads[1] : full_w - pads[3], :]
    return [Value(_bias(ctx, y), Layout.NHWC)]
