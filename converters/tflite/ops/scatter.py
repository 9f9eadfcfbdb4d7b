"""ScatterND with constant indices (Swin's shifted-window mask is built by slice assignment).

``data`` with the ``indices`` positions replaced by ``updates`` is ``data * (1 - mask) + scatter``: the
mask is a constant and SCATTER_ND (scatter into zeros) is a TFLite builtin.
"""

from __future__ import annotations

import numpy as np

from edgekit.converters.tflite.registry import register
from edgekit.converters.tflite.values import Layout, NodeContext, Value, as_layout, to_tensor
from edgekit.errors import UnsupportedOpError


@register("ScatterND")
def scatter_nd(ctx: NodeContext) -> list[Value]:
    tf = ctx.tf
    reduction = ctx.attr("reduction", b"none")
    if isinstance(reduction, bytes):
        reduction = reduction.decode()
    if reduction != "none":
        raise UnsupportedOpError(
            f"ScatterND node {ctx.node.name!r}: reduction={reduction!r} is not supported (only 'none')"
        )
    data, updates = ctx.input(0), ctx.input(2)
    indices = ctx.const_input(1, "the indices").astype(np.int64)
    shape = data.onnx_shape
    mask = np.zeros(shape, dtype=bool)
    mask[tuple(np.moveaxis(indices, -1, 0))] = True
    x = to_tensor(tf, data) if data.is_const else as_layout(tf, data, Layout.PLAIN)
    u = to_tensor(tf, updates) if updates.is_const else as_layout(tf, updates, Layout.PLAIN)
    u = tf.cast(u, x.dtype)
    scattered = tf.scatter_nd(tf.constant(indices.astype(np.int32)), u, shape)
    keep = tf.constant((~mask).astype(x.dtype.as_numpy_dtype))
    return [Value(x * keep + scattered)]
