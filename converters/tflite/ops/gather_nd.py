"""GatherND (Swin V2's relative position bias table is indexed with it): TFLite's GATHER_ND."""

from __future__ import annotations

import numpy as np

from edgekit.converters.tflite.registry import register
from edgekit.converters.tflite.values import Layout, NodeContext, Value, as_layout, to_tensor


@register("GatherND")
def gather_nd(ctx: NodeContext) -> list[Value]:
    tf = ctx.tf
    data, indices = ctx.input(0), ctx.input(1)
    x = to_tensor(tf, data) if data.is_const else as_layout(tf, data, Layout.PLAIN)
    idx = (
        tf.constant(indices.const.astype(np.int32))
        if indices.is_const
        else tf.cast(as_layout(tf, indices, Layout.PLAIN), tf.int32)
    )
    return [Value(tf.gather_nd(x, idx, batch_dims=int(ctx.attr("batch_dims", 0))))]
