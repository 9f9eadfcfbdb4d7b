"""Gemm and MatMul: fully connected layers (int8 per-channel weights from QDQ) and batched matmuls."""

from __future__ import annotations

import numpy as np

from edgekit.converters.tflite.registry import register
from edgekit.converters.tflite.values import (
    Layout,
    NodeContext,
    QuantizedConstant,
    Value,
    as_layout,
    kernel_constant,
    to_tensor,
)
from edgekit.converters.tflite.weights import constant
from edgekit.errors import UnsupportedOpError


def _dense(ctx: NodeContext, x, weight_value: Value, kernel_np: np.ndarray, channel_axis: int):
    """x @ kernel for a constant [K, N] kernel.

    With ``writer="tf"``, a per-channel int8 kernel goes through a 1x1 CONV_2D: TFLite's FULLY_CONNECTED stores its weight as
    [N, K], and the converter cannot transpose a per-channel quantized constant (it rejects the changed
    quantization axis), while CONV_2D keeps per-output-channel scales natively. The direct writer
    stores the per-channel [N, K] FULLY_CONNECTED weight itself.
    """
    tf = ctx.tf
    data = weight_value.data
    direct = getattr(tf, "writes_scales", False)  # the direct writer has per-channel FULLY_CONNECTED
    if (
        isinstance(data, QuantizedConstant)
        and data.axis is not None
        and np.size(data.scale) > 1
        and not direct
    ):
        k, n = kernel_np.shape
        kernel = kernel_constant(tf, weight_value, kernel_np.reshape(1, 1, k, n), channel_axis=3)
        lead = [int(d) for d in x.shape[:-1]]
        y = tf.nn.conv2d(tf.reshape(x, (-1, 1, 1, k)), kernel, strides=1, padding="VALID")
        return tf.reshape(y, (*lead, n))
    return tf.linalg.matmul(x, kernel_constant(tf, weight_value, kernel_np, channel_axis=channel_axis))


def _rows_for(x: Value, kernel_np: np.ndarray) -> np.ndarray:
    """A [C*H*W, N] kernel with its rows in NHWC order when ``x`` is a FLAT_NHWC value."""
    if x.layout is not Layout.FLAT_NHWC or x.chw is None:
        return kernel_np
    c, h, w = x.chw
    return kernel_np.reshape(c, h, w, -1).transpose(1, 2, 0, 3).reshape(c * h * w, -1)


def _input(ctx: NodeContext, x: Value, flat_ok: bool):
    return x.data if flat_ok and x.layout is Layout.FLAT_NHWC else as_layout(ctx.tf, x, Layout.PLAIN)


@register("Gemm", keeps_flat=True)
def gemm(ctx: NodeContext) -> list[Value]:
    tf = ctx.tf
    a, b = ctx.input(0), ctx.input(1)
    if a is None or b is None or not b.is_const:
        raise UnsupportedOpError(f"Gemm node {ctx.node.name!r}: the second operand must be a constant weight")
    alpha, beta = float(ctx.attr("alpha", 1.0)), float(ctx.attr("beta", 1.0))
    trans_a = bool(ctx.attr("transA", 0))
    x = _input(ctx, a, flat_ok=not trans_a)
    if trans_a:
        x = tf.transpose(x)
    weight = b.const
    # TF kernel is [K, N]: the output-channel (quantization) axis is last
    kernel_np = weight.T if ctx.attr("transB", 0) else weight
    if alpha != 1.0:
        kernel_np = kernel_np * alpha
    if not trans_a:
        kernel_np = _rows_for(a, kernel_np)
    y = _dense(ctx, x, b, kernel_np, channel_axis=1)
    if len(ctx.inputs) > 2 and ctx.inputs[2] is not None:
        c = ctx.const_input(2, "bias").astype(np.float32) * beta
        y = y + constant(tf, c)
    return [Value(y)]


@register("MatMul", keeps_flat=True)
def matmul(ctx: NodeContext) -> list[Value]:
    tf = ctx.tf
    a, b = ctx.required_inputs()
    if b.is_const and b.rank == 2:
        y = _dense(ctx, _input(ctx, a, flat_ok=True), b, _rows_for(a, b.const), channel_axis=1)
    else:
        x = as_layout(tf, a, Layout.PLAIN)
        y = tf.linalg.matmul(x, to_tensor(tf, b) if b.is_const else as_layout(tf, b, Layout.PLAIN))
    return [Value(y)]
