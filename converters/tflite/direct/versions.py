"""The builtin operator version each written op needs, from its tensor types and options.

A TFLite kernel is registered for a range of versions; an op code's version says which features the op
uses (int8 or int16 tensors, per-channel hybrid weights, dilation, half-pixel resizing, rank above 4...).
A runtime that is too old for a version refuses the file at load time instead of running a kernel that
does not know the feature, so the writer states the version LiteRT's converter would state. The rules
follow LiteRT's op version logic (``tensorflow/lite/tools/versioning/op_version.cc``), restricted to the
ops and features the direct writer emits; an op not listed here is version 1.

>>> import numpy as np
>>> from edgekit.converters.tflite.direct.ir import Graph, Operator
>>> g = Graph()
>>> x = g.tensor((1, 8), np.int8)
>>> builtin_version(Operator("SOFTMAX", [x], [g.tensor((1, 8), np.int8)]))
2
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from edgekit.converters.tflite.direct.ir import Operator, Tensor

_I8, _U8, _I16, _I32, _I64 = (np.dtype(t) for t in (np.int8, np.uint8, np.int16, np.int32, np.int64))
_F16, _F32, _BOOL = np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.bool_)

# Ops whose version depends only on the type of their first input: (ops, {type: version}).
_GROUPS: tuple[tuple[tuple[str, ...], dict[np.dtype, int]], ...] = (
    (("SOFTMAX", "MEAN", "MIRROR_PAD", "REDUCE_MAX", "REDUCE_MIN", "RELU6", "RSQRT"), {_I16: 3, _I8: 2}),
    (("MAX_POOL_2D", "AVERAGE_POOL_2D", "TANH", "LOGISTIC", "CONCATENATION"), {_I16: 3, _I8: 2}),
    (("LESS", "GREATER_EQUAL"), {_I16: 3, _I8: 2}),
    (("SPLIT_V", "SUM", "LOG_SOFTMAX", "GREATER", "SQUARED_DIFFERENCE"), {_I8: 2}),
    (("EXP", "LOG", "REDUCE_PROD"), {_I8: 2, _I16: 2}),
    (("RELU",), {_I16: 3, _I8: 2, _U8: 2}),
    (("LEAKY_RELU",), {_I16: 2}),
    (("EQUAL",), {_I16: 4, _I8: 2}),
    (("TILE",), {_I8: 3}),
    (("GELU",), {_I8: 2, _U8: 2}),
    (("SIGN",), {_I32: 2}),
    (("BATCH_MATMUL",), {_I16: 3, _I8: 2}),
    (("BROADCAST_TO",), {_I8: 3, _I16: 3}),
)
_BY_TYPE = {code: versions for codes, versions in _GROUPS for code in codes}
_MINIMUM = {"BROADCAST_TO": 2}  # version 1 of BROADCAST_TO was withdrawn
#: The least version of an op that reads or writes int16 activations (16x8), as TensorFlow 2.21's converter
#: writes them; the rules below may ask for more.
_INT16_MINIMUM = {
    "ADD": 2,
    "AVERAGE_POOL_2D": 2,
    "CONCATENATION": 2,
    "CONV_2D": 3,
    "DEPTHWISE_CONV_2D": 3,
    "FULLY_CONNECTED": 4,
    "LOGISTIC": 2,
    "MAX_POOL_2D": 2,
    "MEAN": 2,
    "MUL": 2,
    "QUANTIZE": 2,
    "SOFTMAX": 2,
    "TANH": 2,
    "TRANSPOSE_CONV": 3,
}


def _type(tensors: Sequence[Tensor | None], i: int) -> np.dtype | None:
    tensor = tensors[i] if i < len(tensors) else None
    return tensor.np_dtype if tensor is not None else None


def _rank(op: Operator) -> int:
    return max((len(t.shape) for t in op.inputs if t is not None), default=0)


def _broadcasts(op: Operator) -> bool:
    shapes = [t.shape for t in op.inputs if t is not None]
    return len(shapes) >= 2 and shapes[0] != shapes[1]


def _per_channel(tensor: Tensor | None) -> bool:
    return tensor is not None and tensor.quant is not None and np.size(tensor.quant.scale) > 1


def _hybrid(op: Operator) -> bool:
    """Float activations with int8 weights (dynamic-range quantization)."""
    return _type(op.inputs, 0) == _F32 and _type(op.inputs, 1) == _I8 and _type(op.outputs, 0) == _F32


def _all(op: Operator, dtype: np.dtype) -> bool:
    return _type(op.inputs, 0) == dtype and _type(op.inputs, 1) == dtype and _type(op.outputs, 0) == dtype


def _sixteen_by_eight(op: Operator) -> bool:
    return _type(op.inputs, 0) == _I16 and _type(op.inputs, 1) == _I8 and _type(op.outputs, 0) == _I16


def _conv_2d(op: Operator) -> int:
    x, w = op.inputs[0], op.inputs[1]
    if _sixteen_by_eight(op) and op.fields.get("quantizedBiasType"):
        return 8
    if x is not None and w is not None and len(x.shape) == 4 and x.shape[3] != w.shape[3]:
        return 6  # grouped convolution
    if _all(op, _I16):
        return 4
    if _all(op, _I8):
        return 3
    if _hybrid(op):
        return 5 if _per_channel(w) else 2
    return 1


def _depthwise_conv_2d(op: Operator) -> int:
    if _all(op, _I16):
        return 5
    if _hybrid(op):
        return 6 if _per_channel(op.inputs[1]) else 4
    if _all(op, _I8):
        return 3
    dilated = op.fields.get("dilationWFactor", 1) != 1 or op.fields.get("dilationHFactor", 1) != 1
    return 2 if dilated else 1


def _fully_connected(op: Operator) -> int:
    if _hybrid(op) and _per_channel(op.inputs[1]):
        return 12
    if _sixteen_by_eight(op) and op.fields.get("quantizedBiasType"):
        return 11
    if _all(op, _I16):
        return 7
    if len(op.inputs) == 2:
        return 6  # no bias input
    if op.fields.get("keepNumDims"):
        return 5
    if _all(op, _I8):
        return 4
    if _hybrid(op):
        return 9 if op.fields.get("asymmetricQuantizeInputs") else 3
    return 1


def _mul(op: Operator) -> int:
    first = _type(op.inputs, 0)
    quantized = op.inputs[0] is not None and op.inputs[0].quant is not None
    if first == _I16 and not quantized:
        return 7
    if first == _I64:
        return 5
    if first == _I16:
        return 4
    scales = [t.quant.scale for t in (*op.inputs[:2], op.outputs[0]) if t is not None and t.quant is not None]
    if (
        first == _I8
        and len(scales) == 3
        and float(np.max(scales[0]) * np.max(scales[1]) / np.min(scales[2])) >= 1.0
    ):
        return 3
    return 2 if first == _I8 else 1


def _add(op: Operator) -> int:
    first = _type(op.inputs, 0)
    quantized = op.inputs[0] is not None and op.inputs[0].quant is not None
    if first == _I16 and not quantized:
        return 5
    if first == _I64:
        return 4
    if first == _I16 and _type(op.outputs, 0) == _I16 and not op.fields.get("potScaleInt16", True):
        return 3
    return 2 if first == _I8 else 1


def _sub(op: Operator) -> int:
    first = _type(op.inputs, 0)
    if first == _I16 and _type(op.outputs, 0) == _I16 and not op.fields.get("potScaleInt16", True):
        return 5
    if first == _I64:
        return 4
    if _broadcasts(op) and _rank(op) > 4:
        return 3
    return 2 if first == _I8 else 1


def _min_max(op: Operator) -> int:
    first = _type(op.inputs, 0)
    if first == _I16 and _type(op.outputs, 0) == _I16:
        return 4
    if _broadcasts(op) and _rank(op) > 4:
        return 3
    return 2 if first == _I8 else 1


def _transpose(op: Operator) -> int:
    first, rank = _type(op.inputs, 0), _rank(op)
    if rank > 5:
        return 6
    if first == _I16:
        return 5
    if rank > 4:
        return 4
    return {_BOOL: 3, _I8: 2}.get(first, 1) if first is not None else 1


def _transpose_conv(op: Operator) -> int:
    if op.fields.get("fusedActivationFunction"):
        return 4
    if len(op.inputs) == 4 and op.inputs[3] is not None:
        return 3  # with a bias
    return 2 if _type(op.inputs, 1) == _I8 else 1


def _strided_slice(op: Operator) -> int:
    first = _type(op.inputs, 0)
    if op.fields.get("offset"):
        return 8
    if op.fields.get("ellipsisMask") or op.fields.get("newAxisMask"):
        return 6
    if _rank(op) > 4:
        return 4
    return {_BOOL: 3, _I8: 2}.get(first, 1) if first is not None else 1


def _pad(op: Operator) -> int:
    if _rank(op) > 4:
        return 4
    return {_I16: 3, _I8: 2}.get(_type(op.inputs, 0), 1)  # type: ignore[arg-type]


def _resize(op: Operator) -> int:
    if _type(op.inputs, 0) == _I16:
        return 4
    if op.fields.get("halfPixelCenters") or (
        op.code == "RESIZE_NEAREST_NEIGHBOR" and op.fields.get("alignCorners")
    ):
        return 3
    return 2 if _type(op.inputs, 0) == _I8 else 1


def _gather(op: Operator) -> int:
    first = _type(op.inputs, 0)
    if _type(op.inputs, 1) == _I16:
        return 6
    if op.fields.get("batchDims"):
        return 5
    return {_I16: 4, _BOOL: 3, _I8: 2}.get(first, 1)  # type: ignore[arg-type]


def _gather_nd(op: Operator) -> int:
    first = _type(op.inputs, 0)
    if first == _BOOL:
        return 5
    if _type(op.inputs, 1) == _I16:
        return 4
    return 3 if first == _I16 else 1


def _split(op: Operator) -> int:  # input 0 is the axis
    return {_I16: 4, _I32: 3, _I8: 2}.get(_type(op.inputs, 1), 1)  # type: ignore[arg-type]


def _quantize(op: Operator) -> int:
    if _per_channel(op.outputs[0]):
        return 3
    return 2 if _type(op.outputs, 0) == _I16 else 1


def _dequantize(op: Operator) -> int:
    first = _type(op.inputs, 0)
    if first in (_I16, _F16):
        return 3
    if first == _I8:
        return 5 if _per_channel(op.inputs[0]) else 2
    return 1


def _cast(op: Operator) -> int:
    types = {_type(op.inputs, 0), _type(op.outputs, 0)}
    if types & {_F16, np.dtype(np.float64)}:
        return 5
    if np.dtype(np.uint16) in types:
        return 4
    if _I8 in types:
        return 3
    return 2 if np.dtype(np.uint32) in types else 1


def _abs(op: Operator) -> int:
    first = _type(op.inputs, 0)
    if first == _I32:
        return 5
    if first == _I16:
        return 3 if op.inputs[0] is not None and op.inputs[0].quant is not None else 4
    return 2 if first in (_I8, _U8) else 1


_RULES: dict[str, Callable[[Operator], int]] = {
    "CONV_2D": _conv_2d,
    "DEPTHWISE_CONV_2D": _depthwise_conv_2d,
    "FULLY_CONNECTED": _fully_connected,
    "MUL": _mul,
    "ADD": _add,
    "SUB": _sub,
    "DIV": lambda op: 2 if _broadcasts(op) and _rank(op) > 4 else 1,
    "MAXIMUM": _min_max,
    "MINIMUM": _min_max,
    "TRANSPOSE": _transpose,
    "TRANSPOSE_CONV": _transpose_conv,
    "STRIDED_SLICE": _strided_slice,
    "PAD": _pad,
    "PADV2": _pad,
    "RESIZE_BILINEAR": _resize,
    "RESIZE_NEAREST_NEIGHBOR": _resize,
    "GATHER": _gather,
    "GATHER_ND": _gather_nd,
    "SPLIT": _split,
    "QUANTIZE": _quantize,
    "DEQUANTIZE": _dequantize,
    "CAST": _cast,
    "ABS": _abs,
    "SELECT_V2": lambda op: 2 if _type(op.inputs, 0) == np.dtype(np.uint32) else 1,
}


def builtin_version(op: Operator) -> int:
    """The op code version ``op`` needs (at least ``op.version``, which a handler may raise)."""
    rule = _RULES.get(op.code)
    if rule is not None:
        found = rule(op)
    else:
        first = _type(op.inputs, 0)
        found = _BY_TYPE.get(op.code, {}).get(first, 1) if first is not None else 1
    int16 = any(
        t is not None and not t.is_const and t.quant is not None and t.np_dtype == _I16
        for t in (*op.inputs, *op.outputs)
    )
    return max(found, op.version, _MINIMUM.get(op.code, 1), _INT16_MINIMUM.get(op.code, 1) if int16 else 1)
