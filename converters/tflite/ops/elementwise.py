"""Broadcasting binary ops (Add, Mul, ...) and Where, in whichever layout their operands are held."""

from __future__ import annotations

from edgekit.converters.tflite.registry import register
from edgekit.converters.tflite.values import NodeContext, Value, align, common_layout


def _binary(ctx: NodeContext, fn) -> list[Value]:
    layout, rank = common_layout(ctx.inputs)
    a, b = (align(ctx.tf, v, layout, rank) for v in (ctx.input(0), ctx.input(1)))
    return [Value(fn(a, b), layout)]


@register("Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Equal", "Greater", "Less", "And", "Or")
def binary(ctx: NodeContext) -> list[Value]:
    tf = ctx.tf
    fns = {
        "Add": tf.math.add,
        "Sub": tf.math.subtract,
        "Mul": tf.math.multiply,
        "Div": tf.math.divide,
        "Pow": tf.math.pow,
        "Max": tf.math.maximum,
        "Min": tf.math.minimum,
        "Equal": tf.math.equal,
        "Greater": tf.math.greater,
        "Less": tf.math.less,
        "And": tf.math.logical_and,
        "Or": tf.math.logical_or,
    }
    if ctx.node.op_type == "Pow" and ctx.input(1).is_const and float(ctx.input(1).const) == 2.0:
        return _binary(ctx, lambda a, b: tf.math.square(a))
    if ctx.node.op_type == "Div" and ctx.input(1).is_const:
        return _binary(ctx, lambda a, b: a * (1.0 / b))
    return _binary(ctx, fns[ctx.node.op_type])


@register("Where")
def where(ctx: NodeContext) -> list[Value]:
    layout, rank = common_layout(ctx.inputs)
    cond, a, b = (align(ctx.tf, v, layout, rank) for v in ctx.required_inputs())
    return [Value(ctx.tf.where(cond, a, b), layout)]
