"""Pointwise activations and softmax."""

from __future__ import annotations

import math
from typing import Any

from edgekit.converters.tflite.registry import register
from edgekit.converters.tflite.values import Layout, NodeContext, Value, as_layout, nhwc_axis, to_tensor


def _unary(ctx: NodeContext, fn) -> list[Value]:
    x = ctx.input(0)
    return [x.like(fn(to_tensor(ctx.tf, x)))]


@register("Relu", keeps_flat=True)
def relu(ctx: NodeContext) -> list[Value]:
    return _unary(ctx, ctx.tf.nn.relu)


@register("LeakyRelu")
def leaky_relu(ctx: NodeContext) -> list[Value]:
    return _unary(ctx, lambda t: ctx.tf.nn.leaky_relu(t, alpha=float(ctx.attr("alpha", 0.01))))


@register("Sigmoid")
def sigmoid(ctx: NodeContext) -> list[Value]:
    return _unary(ctx, ctx.tf.math.sigmoid)


@register("Tanh")
def tanh(ctx: NodeContext) -> list[Value]:
    return _unary(ctx, ctx.tf.math.tanh)


# Abramowitz & Stegun 7.1.26 (max abs error 1.5e-7): TFLite has no ERF builtin, GELU exports contain it.
_ERF_P = 0.3275911
_ERF_A = (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429)


@register("Erf")
def erf(ctx: NodeContext) -> list[Value]:
    tf = ctx.tf

    def approx(x: Any) -> Any:
        ax = tf.math.abs(x)
        t = 1.0 / (1.0 + _ERF_P * ax)
        poly = t * (_ERF_A[0] + t * (_ERF_A[1] + t * (_ERF_A[2] + t * (_ERF_A[3] + t * _ERF_A[4]))))
        return tf.math.sign(x) * (1.0 - poly * tf.math.exp(-ax * ax))

    return _unary(ctx, approx)


@register(
    "Exp", "Log", "Sqrt", "Neg", "Abs", "Reciprocal", "Floor", "Ceil", "Sin", "Cos", "Not", "Round", "IsNaN"
)
def elementwise_unary(ctx: NodeContext) -> list[Value]:
    tf = ctx.tf
    fns = {
        "Exp": tf.math.exp,
        "Log": tf.math.log,
        "Sqrt": tf.math.sqrt,
        "Neg": tf.math.negative,
        "Abs": tf.math.abs,
        "Reciprocal": tf.math.reciprocal,
        "Floor": tf.math.floor,
        "Ceil": tf.math.ceil,
        "Sin": tf.math.sin,
        "Cos": tf.math.cos,
        "Not": tf.math.logical_not,
        "Round": tf.math.round,  # half to even, as ONNX
        "IsNaN": lambda t: tf.math.logical_not(tf.math.equal(t, t)),  # NaN is the one value unequal to itself
    }
    return _unary(ctx, fns[ctx.node.op_type])


@register("Gelu")
def gelu(ctx: NodeContext) -> list[Value]:
    approximate = ctx.attr("approximate", b"none")
    approximate = approximate.decode() if isinstance(approximate, bytes) else approximate
    return _unary(ctx, lambda t: ctx.tf.nn.gelu(t, approximate=approximate == "tanh"))


@register("Clip", keeps_flat=True)
def clip(ctx: NodeContext) -> list[Value]:
    tf = ctx.tf
    low = (
        float(ctx.const_input(1, "min"))
        if len(ctx.inputs) > 1 and ctx.inputs[1] is not None
        else ctx.attr("min", -math.inf)
    )
    high = (
        float(ctx.const_input(2, "max"))
        if len(ctx.inputs) > 2 and ctx.inputs[2] is not None
        else ctx.attr("max", math.inf)
    )
    if low == 0.0 and high == 6.0:
        return _unary(ctx, tf.nn.relu6)
    if low == 0.0 and high == math.inf:
        return _unary(ctx, tf.nn.relu)
    return _unary(ctx, lambda t: tf.clip_by_value(t, low, high))


@register("HardSigmoid")
def hard_sigmoid(ctx: NodeContext) -> list[Value]:
    tf = ctx.tf
    alpha, beta = float(ctx.attr("alpha", 0.2)), float(ctx.attr("beta", 0.5))
    if abs(alpha - 1 / 6) < 1e-7 and beta == 0.5:  # PyTorch's hardsigmoid: relu6(x + 3) / 6
        return _unary(ctx, lambda t: tf.nn.relu6(t + 3.0) * (1.0 / 6.0))
    return _unary(ctx, lambda t: tf.clip_by_value(t * alpha + beta, 0.0, 1.0))


@register("HardSwish")
def hard_swish(ctx: NodeContext) -> list[Value]:
    tf = ctx.tf
    return _unary(ctx, lambda t: t * tf.nn.relu6(t + 3.0) * (1.0 / 6.0))


@register("Softmax", "LogSoftmax")
def softmax(ctx: NodeContext) -> list[Value]:
    tf = ctx.tf
    x = ctx.input(0)
    axis = int(ctx.attr("axis", -1))
    fn = tf.nn.softmax if ctx.node.op_type == "Softmax" else tf.nn.log_softmax
    if x.layout is Layout.NHWC:
        return [Value(fn(x.data, axis=nhwc_axis(axis)), Layout.NHWC)]
    return [Value(fn(as_layout(tf, x, Layout.PLAIN), axis=axis))]
