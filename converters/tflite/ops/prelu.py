"""PRelu: ``x`` where ``x >= 0``, ``slope * x`` elsewhere, as TFLite's PRELU (LEAKY_RELU for one slope).

ONNX broadcasts the slope onto the input (PyTorch's per-channel ``nn.PReLU`` exports it as ``[C, 1, 1]``).
The slope is laid out like the input is held (``[C]`` for an NHWC map), the shape LiteRT's XNNPACK
delegate takes. A quantized slope (DequantizeLinear of an int8 constant) keeps its ONNX scale.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgekit.converters.tflite.registry import register
from edgekit.converters.tflite.values import (
    NCHW_TO_NHWC,
    Layout,
    NodeContext,
    QuantizedConstant,
    Value,
    align,
    as_layout,
    common_layout,
    fake_quant_weight,
)
from edgekit.converters.tflite.weights import constant


def _held_slope(slope: np.ndarray, rank: int, layout: Layout) -> np.ndarray:
    """The ONNX slope broadcastable against the input as it is held, without leading 1-axes."""
    full = slope.reshape((1,) * (rank - slope.ndim) + slope.shape)
    if layout is Layout.NHWC:
        full = full.transpose(NCHW_TO_NHWC)
    while full.ndim > 1 and full.shape[0] == 1:
        full = full[0]
    return np.ascontiguousarray(full, dtype=np.float32)


def _slope_tensor(ctx: NodeContext, slope: Value, held: np.ndarray) -> Any:
    data = slope.data
    if isinstance(data, QuantizedConstant) and data.scale.size == 1 and not np.any(data.zero_point):
        return fake_quant_weight(ctx.tf, data, held, None)
    return constant(ctx.tf, held)


@register("PRelu")
def prelu(ctx: NodeContext) -> list[Value]:
    tf = ctx.tf
    x, slope = ctx.input(0), ctx.input(1)
    if not slope.is_const:  # a computed slope: max(x, 0) + slope * min(x, 0)
        layout, rank = common_layout([x, slope])
        a, s = (align(tf, v, layout, rank) for v in (x, slope))
        return [Value(tf.math.maximum(a, 0.0) + s * tf.math.minimum(a, 0.0), layout)]
    values = slope.const
    if values.size == 1:
        return [x.like(tf.nn.leaky_relu(x.data, alpha=float(values.reshape(-1)[0])))]
    if x.layout is Layout.FLAT_NHWC:
        x = Value(as_layout(tf, x, Layout.PLAIN))
    held = _held_slope(values, x.rank, x.layout)
    native = getattr(tf.nn, "prelu", None)  # the direct writer's PRELU; TensorFlow has no tf.nn.prelu
    if native is not None:
        return [x.like(native(x.data, _slope_tensor(ctx, slope, held)))]
    # Keras' PReLU spelling, which TensorFlow's converter fuses into one PRELU
    keras = (-held).reshape(
        (1,) * (x.rank - 1 - held.ndim) + held.shape
    )  # Keras' alpha: all but the batch axis
    return [x.like(tf.nn.relu(x.data) + constant(tf, keras) * tf.nn.relu(-x.data))]
