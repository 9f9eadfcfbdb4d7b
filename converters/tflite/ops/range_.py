"""Range: only with constant start / limit / delta (its length is then known; TFLite needs static shapes)."""

from __future__ import annotations

import numpy as np

from edgekit.converters.tflite.registry import register
from edgekit.converters.tflite.values import NodeContext, Value
from edgekit.errors import UnsupportedOpError


@register("Range")
def range_(ctx: NodeContext) -> list[Value]:
    if not all(v is not None and v.is_const for v in ctx.inputs):
        raise UnsupportedOpError(
            f"Range node {ctx.node.name!r}: start/limit/delta are computed from the input data, so the output "
            "length is not static; TFLite needs static shapes. Fix the input shapes (input_shapes= / "
            "--input-shapes) so the range folds to a constant, or compute it outside the model"
        )
    start, limit, delta = (ctx.const_input(i, what) for i, what in enumerate(("start", "limit", "delta")))
    dtype = np.asarray(start).dtype
    return [Value(np.arange(start.item(), limit.item(), delta.item()).astype(dtype))]
