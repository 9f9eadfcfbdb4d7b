"""Values flowing through the translator, with the layout each one is held in.

ONNX is NCHW; TFLite kernels want NHWC. A 4-D activation that ONNX sees as NCHW is held *channels-last*
(``Layout.NHWC``) from the first convolution on, so that no transposes are emitted; the layout pass is
this bookkeeping: every handler says in which layout it produces its outputs, and :func:`as_layout`
converts only where an op really needs the other one.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgekit.converters.tflite.weights import constant

NCHW_TO_NHWC = (0, 2, 3, 1)
NHWC_TO_NCHW = (0, 3, 1, 2)


class Layout(enum.Enum):
    PLAIN = "plain"  # same axis order as in ONNX
    NHWC = "nhwc"  # a 4-D ONNX NCHW tensor held as NHWC
    FLAT_NHWC = "flat_nhwc"  # ONNX's [N, C*H*W] flatten of an NCHW map, held in NHWC element order


@dataclass
class QuantizedConstant:
    """An integer initializer seen through DequantizeLinear (a quantized weight or bias)."""

    values: np.ndarray  # dequantized float32 values, ONNX layout
    scale: np.ndarray
    zero_point: np.ndarray
    axis: int | None  # per-channel axis, None for per-tensor
    dtype: np.dtype

    def transposed(self, perm: list[int] | None) -> QuantizedConstant:
        """The same weight transposed (a Linear on a 3-D input exports as DequantizeLinear -> Transpose ->
        MatMul); its per-channel axis moves with it, so the weight stays int8."""
        order = list(perm) if perm else list(range(self.values.ndim))[::-1]
        axis = order.index(self.axis) if self.axis is not None else None
        return QuantizedConstant(
            np.transpose(self.values, order), self.scale, self.zero_point, axis, self.dtype
        )

    def reshaped(self, shape: list[int]) -> QuantizedConstant | None:
        """The same per-tensor weight in ONNX Reshape's ``shape`` (0 copies a dimension, -1 is inferred),
        e.g. a PReLU slope ``[C]`` -> ``[C, 1, 1]``; None for per-channel scales, whose axis would move."""
        if self.scale.size != 1:
            return None
        target = [self.values.shape[i] if d == 0 else int(d) for i, d in enumerate(shape)]
        return QuantizedConstant(self.values.reshape(target), self.scale, self.zero_point, None, self.dtype)


@dataclass
class Value:
    """A tensor (``tf.Tensor``) or a constant (``np.ndarray`` / QuantizedConstant) with its layout."""

    data: Any
    layout: Layout = Layout.PLAIN
    chw: tuple[int, int, int] | None = None  # (C, H, W) of the map a FLAT_NHWC value was flattened from

    def like(self, data: Any) -> Value:
        """``data`` (computed elementwise from this value) in this value's layout."""
        return Value(data, self.layout, self.chw)

    @property
    def is_const(self) -> bool:
        return isinstance(self.data, np.ndarray | QuantizedConstant)

    @property
    def const(self) -> np.ndarray:
        data = self.data
        return data.values if isinstance(data, QuantizedConstant) else data

    @property
    def onnx_shape(self) -> tuple[int, ...]:
        """Static shape in ONNX axis order."""
        shape = tuple(self.const.shape) if self.is_const else tuple(int(d) for d in self.data.shape)
        if self.layout is Layout.NHWC:
            return tuple(shape[i] for i in NHWC_TO_NCHW)
        return shape

    @property
    def rank(self) -> int:
        return len(self.onnx_shape)


@dataclass
class NodeContext:
    """What a handler sees: the node, its input values, attributes and the TensorFlow module."""

    node: Any  # onnx.NodeProto
    inputs: list[Value | None]
    attrs: dict[str, Any]
    tf: Any
    opset: int
    notes: list[str] = field(default_factory=list)

    def attr(self, name: str, default: Any = None) -> Any:
        return self.attrs.get(name, default)

    def input(self, index: int) -> Value:
        """Input ``index``, which the op requires; UnsupportedOpError naming the node when it is absent."""
        from edgekit.errors import UnsupportedOpError

        value = self.inputs[index] if index < len(self.inputs) else None
        if value is None:
            raise UnsupportedOpError(
                f"{self.node.op_type} node {self.node.name!r}: required input {index} is missing"
            )
        return value

    def required_inputs(self) -> list[Value]:
        """All inputs, each of which the op requires (see :meth:`input`)."""
        return [self.input(i) for i in range(len(self.inputs))]

    def const_input(self, index: int, what: str) -> np.ndarray:
        from edgekit.errors import UnsupportedOpError

        value = self.inputs[index] if index < len(self.inputs) else None
        if value is None or not value.is_const:
            raise UnsupportedOpError(
                f"{self.node.op_type} node {self.node.name!r}: {what} (input {index}) must be a constant for TFLite "
                "conversion; export with static shapes"
            )
        return value.const


def to_tensor(tf: Any, value: Value) -> Any:
    """The value as a TF tensor / constant in its held layout."""
    if value.is_const:
        const = value.const
        if value.layout is Layout.NHWC:
            const = const.transpose(NCHW_TO_NHWC)
        return constant(tf, const)
    return value.data


def as_layout(tf: Any, value: Value, layout: Layout) -> Any:
    """``value`` as a TF tensor in ``layout`` (transposing only when the layouts differ)."""
    if value.is_const:
        const = value.const
        if layout is Layout.NHWC:
            const = const.reshape((1,) * (4 - const.ndim) + const.shape).transpose(NCHW_TO_NHWC)
        return constant(tf, const)
    if value.layout is layout:
        return value.data
    if value.layout is Layout.FLAT_NHWC:
        c, h, w = value.chw or (0, 0, 0)
        nchw = tf.transpose(tf.reshape(value.data, (-1, h, w, c)), NHWC_TO_NCHW)
        return as_layout(tf, Value(tf.reshape(nchw, (-1, c * h * w))), layout)
    if layout is Layout.NHWC:
        return tf.transpose(value.data, NCHW_TO_NHWC)
    return tf.transpose(value.data, NHWC_TO_NCHW)


def nhwc_axis(axis: int, rank: int = 4) -> int:
    """An ONNX (NCHW) axis index in the NHWC layout."""
    return NCHW_TO_NHWC.index(axis % rank)


def align(tf: Any, value: Value, layout: Layout, rank: int) -> Any:
    """``value`` as a tensor broadcastable against a rank-``rank`` tensor held in ``layout``.

    ONNX broadcasting aligns trailing axes; a lower-rank operand of an NHWC-held 4-D tensor is first
    given leading 1s (as ONNX would) and then permuted.
    """
    if layout is Layout.NHWC and rank == 4 and value.layout is Layout.PLAIN and value.rank <= 4:
        if value.is_const:
            return as_layout(tf, value, Layout.NHWC)
        tensor = value.data
        if value.rank < 4:
            tensor = tf.reshape(tensor, (1,) * (4 - value.rank) + tuple(value.onnx_shape))
        return tf.transpose(tensor, NCHW_TO_NHWC)
    return to_tensor(tf, value) if value.layout is layout or value.is_const else as_layout(tf, value, layout)


def common_layout(values: list[Value | None]) -> tuple[Layout, int]:
    """NHWC if any non-constant operand is held NHWC, with the broadcast rank."""
    present = [v for v in values if v is not None]
    rank = max(v.rank for v in present)
    nhwc = any(v.layout is Layout.NHWC and not v.is_const for v in present)
    return (Layout.NHWC if nhwc and rank == 4 else Layout.PLAIN), rank


def fake_quant_weight(tf: Any, qc: QuantizedConstant, kernel: np.ndarray, channel_axis: int | None) -> Any:
    """A TF kernel constant wrapped in fake-quant ops that carry ``qc``'s exact int8 scales.

    ``kernel`` is the dequantized weight already in TF layout; ``channel_axis`` is where the quantization
    axis ended up in it. The TFLite converter turns this into an int8 weight with these scales
    (symmetric, narrow range [-127, 127]).
    """
    from edgekit.errors import UnsupportedOpError

    if np.any(qc.zero_point != 0):
        raise UnsupportedOpError(
            "asymmetric (non-zero zero point) weight quantization is not supported by TFLite"
        )
    scale = np.asarray(qc.scale, dtype=np.float32)
    if getattr(tf, "writes_scales", False):  # the direct writer stores the ONNX scales as they are
        per_channel = qc.axis is not None and scale.size > 1
        return tf.quantized_constant(kernel.astype(np.float32), scale, channel_axis if per_channel else None)
    const = constant(tf, kernel.astype(np.float32))
    if qc.axis is None or scale.size == 1:
        s = float(scale.reshape(-1)[0])
        return tf.quantization.fake_quant_with_min_max_vars(
            const, -127 * s, 127 * s, num_bits=8, narrow_range=True
        )
    rank = kernel.ndim
    perm = [i for i in range(rank) if i != channel_axis] + [channel_axis]
    moved = tf.transpose(const, perm) if channel_axis != rank - 1 else const
    fq = tf.quantization.fake_quant_with_min_max_vars_per_channel(
        moved, -127 * scale, 127 * scale, num_bits=8, narrow_range=True
    )
    if channel_axis == rank - 1:
        return fq
    inverse = [perm.index(i) for i in range(rank)]
    return tf.transpose(fq, inverse)


def kernel_constant(tf: Any, value: Value, kernel: np.ndarray, channel_axis: int | None) -> Any:
    """A weight constant in TF layout: fake-quantized when ``value`` is a quantized initializer."""
    if isinstance(value.data, QuantizedConstant):
        return fake_quant_weight(tf, value.data, kernel, channel_axis)
    return constant(tf, kernel.astype(np.float32) if kernel.dtype == np.float64 else kernel)
