"""GatherElements: every index element picks one element along ``axis``; lowered to GATHER_ND with the
coordinates of the other axes as constants."""

from __future__ import annotations

import numpy as np

from edgekit.converters.tflite.registry import register
from edgekit.converters.tflite.values import Layout, NodeContext, Value, as_layout, to_tensor


@register("GatherElements")
def gather_elements(ctx: NodeContext) -> list[Value]:
    tf = ctx.tf
    data, indices = ctx.input(0), ctx.input(1)
    rank = data.rank
    axis = int(ctx.attr("axis", 0)) % rank
    x = to_tensor(tf, data) if data.is_const else as_layout(tf, data, Layout.PLAIN)
    index_shape = indices.onnx_shape
    grid = np.indices(index_shape, dtype=np.int32)  # [rank, *index_shape]
    if indices.is_const:
        grid[axis] = indices.const.astype(np.int64) % data.onnx_shape[axis]
        coords = tf.constant(np.moveaxis(grid, 0, -1).astype(np.int32))
    else:
        along = tf.reshape(tf.cast(as_layout(tf, indices, Layout.PLAIN), tf.int32), (*index_shape, 1))
        parts = [along if a == axis else tf.constant(grid[a][..., None]) for a in range(rank)]
        coords = tf.concat(parts, axis=rank)
    return [Value(tf.gather_nd(x, coords))]
