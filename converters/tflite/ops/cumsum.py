"""CumSum: TFLite's CUMSUM (exclusive / reverse as options), along a constant axis."""

from __future__ import annotations

from edgekit.converters.tflite.registry import register
from edgekit.converters.tflite.values import Layout, NodeContext, Value, nhwc_axis, to_tensor


@register("CumSum")
def cumsum(ctx: NodeContext) -> list[Value]:
    x = ctx.input(0)
    axis = int(ctx.const_input(1, "axis").reshape(-1)[0]) % x.rank
    if x.layout is Layout.NHWC:
        axis = nhwc_axis(axis)
    y = ctx.tf.math.cumsum(
        to_tensor(ctx.tf, x),
        axis=axis,
        exclusive=bool(ctx.attr("exclusive", 0)),
        reverse=bool(ctx.attr("reverse", 0)),
    )
    return [Value(y, x.layout)]
