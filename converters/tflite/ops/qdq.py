"""QuantizeLinear / DequantizeLinear: carry ONNX QDQ scales into TFLite exactly.

* An activation's QuantizeLinear becomes ``fake_quant_with_min_max_vars`` with the range that TFLite
  recovers to exactly the ONNX scale and zero point; the following DequantizeLinear is the identity.
* DequantizeLinear of an integer initializer yields a :class:`QuantizedConstant`; the consuming
  Conv/Gemm/MatMul wraps the kernel in per-channel fake quantization (symmetric, narrow range), and a
  bias (int32) becomes the float bias that the TFLite converter re-quantizes with the same scales.
"""

from __future__ import annotations

import numpy as np

from edgekit.converters.tflite.registry import register
from edgekit.converters.tflite.values import NodeContext, QuantizedConstant, Value, to_tensor
from edgekit.errors import UnsupportedOpError

_RANGES = {
    np.dtype(np.int8): (-128, 127),
    np.dtype(np.uint8): (0, 255),
    np.dtype(np.int16): (-32768, 32767),
}


def _zero_point(ctx: NodeContext) -> np.ndarray | None:
    if len(ctx.inputs) > 2 and ctx.inputs[2] is not None:
        return ctx.const_input(2, "zero point")
    return None


def _step(value: np.float32, k: int) -> np.float32:
    direction = np.float32(np.inf) if k > 0 else np.float32(-np.inf)
    for _ in range(abs(k)):
        value = np.nextafter(value, direction, dtype=np.float32)
    return value


def activation_range(scale: float, zero_point: int, dtype: np.dtype) -> tuple[float, float]:
    """(min, max) of a fake-quant op that TFLite turns back into exactly (scale, zero_point).

    TFLite recovers ``scale = (max - min) / (qmax - qmin)`` in float32; the float32 values of min and max
    are nudged by a few ulps until that expression reproduces the ONNX scale bit for bit.

    >>> activation_range(0.5, -128, np.dtype(np.int8))
    (0.0, 127.5)
    """
    qmin, qmax = _RANGES[np.dtype(dtype)]
    target = np.float32(scale)
    low = np.float32((qmin - zero_point) * float(target))
    high = np.float32((qmax - zero_point) * float(target))
    levels = np.float32(qmax - qmin)
    for dl in (0, 1, -1, 2, -2, 3, -3):
        for dh in (0, 1, -1, 2, -2, 3, -3):
            lo, hi = _step(low, dl), _step(high, dh)
            if np.float32((hi - lo) / levels) == target:
                return float(lo), float(hi)
    return float(low), float(high)


@register("QuantizeLinear", keeps_flat=True, fold=False)
def quantize_linear(ctx: NodeContext) -> list[Value]:
    tf = ctx.tf
    x = ctx.input(0)
    scale = ctx.const_input(1, "scale")
    zp = _zero_point(ctx)
    dtype = np.dtype(zp.dtype) if zp is not None else np.dtype(np.uint8)
    zp_value = zp if zp is not None else np.zeros_like(scale, dtype=np.uint8)
    if dtype not in _RANGES:
        raise UnsupportedOpError(
            f"QuantizeLinear node {ctx.node.name!r}: {dtype} is not supported (int8, uint8, int16)"
        )
    if x.is_const:
        qmin, qmax = _RANGES[dtype]
        axis = int(ctx.attr("axis", 1))
        shape = [1] * x.const.ndim
        if scale.size > 1:
            shape[axis] = -1
        q = np.clip(np.rint(x.const / scale.reshape(shape)) + zp_value.reshape(shape), qmin, qmax).astype(
            dtype
        )
        return [Value(q)]
    if scale.size != 1:
        raise UnsupportedOpError(
            f"QuantizeLinear node {ctx.node.name!r}: per-axis activation quantization is not supported by TFLite"
        )
    if getattr(tf, "writes_scales", False):  # the direct writer stores the ONNX scale as it is
        return [x.like(tf.quantize(to_tensor(tf, x), scale.reshape(-1)[0], zp_value.reshape(-1)[0], dtype))]
    if dtype == np.int16:
        raise UnsupportedOpError(
            f"QuantizeLinear node {ctx.node.name!r}: int16 activations (16x8) are written by the direct "
            "writer only; export with ExportConfig(writer='direct')"
        )
    low, high = activation_range(float(scale.reshape(-1)[0]), int(zp_value.reshape(-1)[0]), dtype)
    y = tf.quantization.fake_quant_with_min_max_vars(
        to_tensor(tf, x), low, high, num_bits=8, narrow_range=False
    )
    return [x.like(y)]


@register("DequantizeLinear", keeps_flat=True, fold=False)
def dequantize_linear(ctx: NodeContext) -> list[Value]:
    x = ctx.input(0)
    if not x.is_const:
        return [x]  # the QuantizeLinear before it already produced the (fake-quantized) float values
    q = x.const
    scale = ctx.const_input(1, "scale").astype(np.float32)
    zp = _zero_point(ctx)
    zp = zp if zp is not None else np.zeros(scale.shape, dtype=q.dtype)
    axis = int(ctx.attr("axis", 1)) % max(q.ndim, 1) if scale.size > 1 else None
    shape = [1] * q.ndim
    if axis is not None:
        shape[axis] = -1
    values = ((q.astype(np.float32) - zp.reshape(shape).astype(np.float32)) * scale.reshape(shape)).astype(
        np.float32
    )
    if q.dtype == np.int32:  # a bias: the TFLite converter re-derives its int32 scale
        return [Value(values)]
    return [Value(QuantizedConstant(values, scale.reshape(-1), zp.reshape(-1), axis, q.dtype))]
