"""Einsum: lowered by the TFLite converter to BATCH_MATMUL / TRANSPOSE / RESHAPE (MaxViT's relative
attention uses it)."""

from __future__ import annotations

from edgekit.converters.tflite.registry import register
from edgekit.converters.tflite.values import Layout, NodeContext, Value, as_layout, to_tensor


@register("Einsum")
def einsum(ctx: NodeContext) -> list[Value]:
    equation = ctx.attr("equation")
    if isinstance(equation, bytes):
        equation = equation.decode()
    operands = [
        to_tensor(ctx.tf, v) if v.is_const else as_layout(ctx.tf, v, Layout.PLAIN) for v in ctx.inputs if v
    ]
    return [Value(ctx.tf.einsum(equation.replace(" ", ""), *operands))]
