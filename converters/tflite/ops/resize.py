"""Resize (nearest / bilinear) and Pad on NHWC tensors."""

from __future__ import annotations

import numpy as np

from edgekit.converters.tflite.registry import register
from edgekit.converters.tflite.values import Layout, NodeContext, Value, as_layout, nhwc_axis, to_tensor
from edgekit.errors import UnsupportedOpError


def _text(value: object, default: str) -> str:
    if value is None:
        return default
    return value.decode() if isinstance(value, bytes) else str(value)


@register("Resize")
def resize(ctx: NodeContext) -> list[Value]:
    tf = ctx.tf
    x = ctx.input(0)
    name = ctx.node.name
    if x.rank != 4:
        raise UnsupportedOpError(f"Resize node {name!r}: only 4-D (image) resizing is supported")
    _n, _c, h, w = x.onnx_shape
    if len(ctx.inputs) > 3 and ctx.inputs[3] is not None and ctx.inputs[3].const.size:
        size = [int(v) for v in ctx.const_input(3, "sizes")][-2:]
    else:
        scales = ctx.const_input(2, "scales")
        if scales.size != 4 or scales[0] != 1 or scales[1] != 1:
            raise UnsupportedOpError(
                f"Resize node {name!r}: only spatial scales are supported, got {scales.tolist()}"
            )
        size = [int(np.floor(h * scales[2])), int(np.floor(w * scales[3]))]
    mode = _text(ctx.attr("mode"), "nearest")
    transform = _text(ctx.attr("coordinate_transformation_mode"), "half_pixel")
    xt = as_layout(tf, x, Layout.NHWC)
    if mode == "nearest":
        nearest = _text(ctx.attr("nearest_mode"), "round_prefer_floor")
        if transform == "asymmetric" and nearest == "floor":
            y = tf.compat.v1.image.resize_nearest_neighbor(
                xt, size, align_corners=False, half_pixel_centers=False
            )
        elif transform in ("half_pixel", "pytorch_half_pixel", "tf_half_pixel_for_nn"):
            y = tf.compat.v1.image.resize_nearest_neighbor(
                xt, size, align_corners=False, half_pixel_centers=True
            )
        else:
            raise UnsupportedOpError(
                f"Resize node {name!r}: nearest with {transform}/{nearest} is not supported"
            )
    elif mode == "linear":
        if transform == "align_corners":
            y = tf.compat.v1.image.resize_bilinear(xt, size, align_corners=True, half_pixel_centers=False)
        elif transform in ("half_pixel", "pytorch_half_pixel"):
            y = tf.compat.v1.image.resize_bilinear(xt, size, align_corners=False, half_pixel_centers=True)
        elif transform == "asymmetric":
            y = tf.compat.v1.image.resize_bilinear(xt, size, align_corners=False, half_pixel_centers=False)
        else:
            raise UnsupportedOpError(f"Resize node {name!r}: linear with {transform} is not supported")
    else:
        raise UnsupportedOpError(f"Resize node {name!r}: mode {mode!r} is not supported (nearest, linear)")
    return [Value(y, Layout.NHWC)]


@register("Pad")
def pad(ctx: NodeContext) -> list[Value]:
    tf = ctx.tf
    x = ctx.input(0)
    pads = [int(p) for p in ctx.const_input(1, "pads")]
    value = (
        float(ctx.const_input(2, "constant value"))
        if len(ctx.inputs) > 2 and ctx.inputs[2] is not None
        else 0.0
    )
    rank = x.rank
    if len(ctx.inputs) > 3 and ctx.inputs[3] is not None:
        axes = [int(a) % rank for a in ctx.const_input(3, "axes")]
    else:
        axes = list(range(rank))
    per_axis = [[0, 0] for _ in range(rank)]
    for i, a in enumerate(axes):
        target = nhwc_axis(a) if x.layout is Layout.NHWC else a
        per_axis[target] = [pads[i], pads[i + len(axes)]]
    mode = _text(ctx.attr("mode"), "constant")
    modes = {"constant": "CONSTANT", "reflect": "REFLECT", "edge": "SYMMETRIC"}
    if mode not in modes or (mode == "edge" and any(p > 1 for pair in per_axis for p in pair)):
        raise UnsupportedOpError(
            f"Pad node {ctx.node.name!r}: mode {mode!r} with these pads is not supported"
        )
    y = tf.pad(to_tensor(tf, x), per_axis, mode=modes[mode], constant_values=value)
    return [Value(y, x.layout)]
