"""The op vocabulary the handlers in ``ops/`` call, emitting TFLite builtin operators into an IR graph.

The handlers were written against a small subset of TensorFlow's API (``tf.nn.conv2d``, ``tf.reshape``,
``tf.math.add``, tensor operators...). :class:`Emitter` offers the same names with the same arguments, so
that one set of handlers drives both writers: TensorFlow itself for ``writer="tf"`` and this emitter for
``writer="direct"``. Each call here is one TFLite builtin (or a short fixed sequence, e.g. SOFTMAX over a
non-last axis), with its static output shape computed here. Calls whose inputs are all constants are
evaluated with numpy instead (constant folding), so that a weight reshaped or scaled by a handler stays one
constant buffer.

Weights arrive in TensorFlow's kernel layouts and are rearranged into TFLite's: CONV_2D ``[O, H, W, I]``,
DEPTHWISE_CONV_2D ``[1, H, W, C*M]``, FULLY_CONNECTED ``[O, I]``, TRANSPOSE_CONV ``[O, H, W, I]``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from types import SimpleNamespace
from typing import Any

import numpy as np

from edgekit.converters.tflite.direct.ir import DType, Graph, Operator, Quant, Tensor
from edgekit.errors import UnsupportedOpError

_PADDING = {"SAME": 0, "VALID": 1}


class NoDirectLoweringError(UnsupportedOpError):
    """An ONNX construct the direct writer has no TFLite lowering for (``writer="tf"`` may take it)."""


#: Internal operator carrying a QuantizeLinear's parameters until ``quantize.py`` applies them.
QUANT_MARK = "EDGEKIT_QUANTIZE"


def _hw(value: Any) -> tuple[int, int]:
    """(h, w) from TF's int / [h, w] / [1, h, w, 1] stride, dilation or window arguments."""
    if isinstance(value, int | np.integer):
        return int(value), int(value)
    items = [int(v) for v in value]
    if len(items) == 4:
        return items[1], items[2]
    if len(items) == 1:
        return items[0], items[0]
    return items[0], items[1]


def _out_size(size: int, k: int, s: int, d: int, padding: str) -> int:
    if padding == "SAME":
        return -(-size // s)
    return (size - (k - 1) * d - 1) // s + 1


def _axis_list(axis: Any, rank: int) -> list[int]:
    if axis is None:
        return list(range(rank))
    items = [axis] if isinstance(axis, int | np.integer) else list(axis)
    return sorted(int(a) % rank for a in items)


def _contiguous(picked: np.ndarray) -> bool:
    """One index, or a run of consecutive ascending indices."""
    flat = picked.reshape(-1)
    return flat.size >= 1 and bool(np.all(np.diff(flat) == 1))


class Emitter:
    """Emits TFLite operators into ``graph`` through a TensorFlow-shaped API (see module docstring)."""

    writes_scales = True  # handlers pass ONNX scales as they are (no fake-quant ranges)
    int8 = DType(np.int8)
    uint8 = DType(np.uint8)
    int16 = DType(np.int16)
    int32 = DType(np.int32)
    int64 = DType(np.int64)
    float32 = DType(np.float32)

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        graph.emitter = self
        self.marked = 0  # operators already tagged with their ONNX node
        self.nn = SimpleNamespace(
            relu=self.relu,
            relu6=self.relu6,
            leaky_relu=self.leaky_relu,
            prelu=self.prelu,
            gelu=self.gelu,
            softmax=self.softmax,
            log_softmax=self.log_softmax,
            conv2d=self.conv2d,
            depthwise_conv2d=self.depthwise_conv2d,
            conv2d_transpose=self.conv2d_transpose,
            conv3d=self.conv3d,
            bias_add=self.add,
            avg_pool2d=self.avg_pool2d,
            max_pool2d=self.max_pool2d,
        )
        self.math = SimpleNamespace(
            add=self.add,
            subtract=self.subtract,
            multiply=self.multiply,
            divide=self.divide,
            pow=self._binary_fn("POW", np.power, "PowOptions"),
            maximum=self._binary_fn("MAXIMUM", np.maximum, "MaximumMinimumOptions"),
            minimum=self._binary_fn("MINIMUM", np.minimum, "MaximumMinimumOptions"),
            equal=self._binary_fn("EQUAL", np.equal, "EqualOptions", np.bool_),
            greater=self._binary_fn("GREATER", np.greater, "GreaterOptions", np.bool_),
            less=self._binary_fn("LESS", np.less, "LessOptions", np.bool_),
            logical_and=self._binary_fn("LOGICAL_AND", np.logical_and, "LogicalAndOptions", np.bool_),
            logical_or=self._binary_fn("LOGICAL_OR", np.logical_or, "LogicalOrOptions", np.bool_),
            logical_not=self._unary_fn("LOGICAL_NOT", np.logical_not, "LogicalNotOptions"),
            exp=self._unary_fn("EXP", np.exp, "ExpOptions"),
            log=self._unary_fn("LOG", np.log),
            sqrt=self.sqrt,
            rsqrt=self._unary_fn("RSQRT", lambda a: 1 / np.sqrt(a)),
            negative=self.negative,
            abs=self._unary_fn("ABS", np.abs, "AbsOptions"),
            reciprocal=lambda x: self.divide(1.0, x),
            floor=self._unary_fn("FLOOR", np.floor),
            ceil=self._unary_fn("CEIL", np.ceil),
            sin=self._unary_fn("SIN", np.sin),
            cos=self._unary_fn("COS", np.cos, "CosOptions"),
            round=self._unary_fn("ROUND", np.round),
            sign=self._unary_fn("SIGN", np.sign, "SignOptions"),
            tanh=self._unary_fn("TANH", np.tanh),
            sigmoid=self._unary_fn("LOGISTIC", lambda a: 1 / (1 + np.exp(-a))),
            square=self.square,
            cumsum=self.cumsum,
            top_k=self.top_k,
        )
        self.linalg = SimpleNamespace(matmul=self.matmul)
        image = SimpleNamespace(
            resize_nearest_neighbor=self._resize("RESIZE_NEAREST_NEIGHBOR", "ResizeNearestNeighborOptions"),
            resize_bilinear=self._resize("RESIZE_BILINEAR", "ResizeBilinearOptions"),
        )
        self.compat = SimpleNamespace(v1=SimpleNamespace(image=image))

    # -- plumbing ----------------------------------------------------------------------------------
    def tag_origin(self, origin: str) -> None:
        """Record ``origin`` (the ONNX node just lowered) on the operators emitted since the last call."""
        for op in self.graph.operators[self.marked :]:
            op.origin = op.origin or origin
        self.marked = len(self.graph.operators)

    def tensor(self, value: Any, like: Tensor | None = None) -> Tensor:
        """``value`` as a tensor; Python / numpy scalars take the dtype of ``like``."""
        if isinstance(value, Tensor):
            return value
        array = np.asarray(value)
        if like is not None and array.ndim == 0 and array.dtype.kind in "fiub":
            array = array.astype(like.np_dtype)
        return self.graph.const(array)

    def _op(
        self,
        code: str,
        inputs: Sequence[Tensor | None],
        shape: Sequence[int],
        dtype: Any,
        options: str | None = None,
        fold: Callable[..., np.ndarray] | None = None,
        **fields: Any,
    ) -> Tensor:
        present = [t for t in inputs if t is not None]
        if fold is not None and all(t.is_const and t.quant is None for t in present):
            return self.graph.const(np.asarray(fold(*[t.data for t in present])).astype(dtype))
        out = self.graph.tensor(tuple(shape), dtype)
        self.graph.add(Operator(code, list(inputs), [out], options, fields))
        return out

    def _int32(self, values: Any) -> Tensor:
        return self.graph.const(np.asarray(values, dtype=np.int32))

    def as_dtype(self, dtype: Any) -> DType:
        return dtype if isinstance(dtype, DType) else DType(dtype)

    # -- constants and shape moves -----------------------------------------------------------------
    def constant(self, value: Any, dtype: Any = None) -> Tensor:
        np_dtype = self.as_dtype(dtype).np if dtype is not None else None
        return self.graph.const(value, np_dtype)

    def identity(self, x: Any, name: str | None = None) -> Tensor:
        return self.tensor(x)

    def reshape(self, x: Any, shape: Sequence[int]) -> Tensor:
        x = self.tensor(x)
        target = [int(d) for d in shape]
        if -1 in target:
            known = int(np.prod([d for d in target if d != -1]))
            target[target.index(-1)] = int(np.prod(x.shape)) // max(known, 1)
        if tuple(target) == x.shape:
            return x
        if x.is_const and x.quant is not None:  # a depthwise kernel [kh, kw, 1, C*M] -> [kh, kw, C, M]
            out = self.graph.const(x.data.reshape(target))
            out.quant = Quant(x.quant.scale, x.quant.zero_point, len(target) - 1)
            return out
        return self._op(
            "RESHAPE",
            [x, self._int32(target)],
            target,
            x.np_dtype,
            "ReshapeOptions",
            lambda a, _s: a.reshape(target),
            newShape=target,
        )

    def squeeze(self, x: Any, axis: Any = None) -> Tensor:
        x = self.tensor(x)
        axes = (
            _axis_list(axis, len(x.shape))
            if axis is not None
            else [i for i, d in enumerate(x.shape) if d == 1]
        )
        return self.reshape(x, [d for i, d in enumerate(x.shape) if i not in axes])

    def transpose(self, x: Any, perm: Sequence[int] | None = None) -> Tensor:
        x = self.tensor(x)
        order = [int(p) for p in perm] if perm is not None else list(range(len(x.shape)))[::-1]
        if order == list(range(len(x.shape))):
            return x
        if x.is_const and x.quant is not None:
            out = self.graph.const(x.data.transpose(order))
            out.quant = Quant(x.quant.scale, x.quant.zero_point, order.index(x.quant.axis))
            return out
        return self._op(
            "TRANSPOSE",
            [x, self._int32(order)],
            [x.shape[p] for p in order],
            x.np_dtype,
            "TransposeOptions",
            lambda a, _p: a.transpose(order),
        )

    def cast(self, x: Any, dtype: Any) -> Tensor:
        x = self.tensor(x)
        target = self.as_dtype(dtype).np
        if target == np.int64:
            target = np.dtype(np.int32)  # TFLite kernels index with int32
        if x.np_dtype == target:
            return x
        return self._op("CAST", [x], x.shape, target, None, lambda a: a.astype(target))

    def pad(self, x: Any, paddings: Any, mode: str = "CONSTANT", constant_values: Any = 0) -> Tensor:
        x = self.tensor(x)
        pads = np.asarray(paddings, dtype=np.int32).reshape(len(x.shape), 2)
        if not pads.any():
            return x
        shape = [d + int(p.sum()) for d, p in zip(x.shape, pads, strict=True)]
        mode = mode.upper()
        if mode == "CONSTANT":
            value = np.asarray(constant_values).astype(x.np_dtype)
            fold = lambda a, *_: np.pad(a, pads, constant_values=value)  # noqa: E731
            if float(value) == 0.0:
                return self._op("PAD", [x, self._int32(pads)], shape, x.np_dtype, "PadOptions", fold)
            return self._op(
                "PADV2",
                [x, self._int32(pads), self.graph.const(value.reshape(()))],
                shape,
                x.np_dtype,
                "PadV2Options",
                fold,
            )
        np_mode = {"REFLECT": "reflect", "SYMMETRIC": "symmetric"}[mode]
        return self._op(
            "MIRROR_PAD",
            [x, self._int32(pads)],
            shape,
            x.np_dtype,
            "MirrorPadOptions",
            lambda a, _p: np.pad(a, pads, mode=np_mode),  # type: ignore[call-overload]
            mode=0 if mode == "REFLECT" else 1,
        )

    def concat(self, values: Sequence[Any], axis: int) -> Tensor:
        tensors = [self.tensor(v) for v in values]
        rank = len(tensors[0].shape)
        axis = int(axis) % rank
        shape = list(tensors[0].shape)
        shape[axis] = sum(t.shape[axis] for t in tensors)
        if len(tensors) == 1:
            return tensors[0]
        return self._op(
            "CONCATENATION",
            tensors,
            shape,
            tensors[0].np_dtype,
            "ConcatenationOptions",
            lambda *a: np.concatenate(a, axis=axis),
            axis=axis,
        )

    def split(self, x: Any, sizes: Any, axis: int = 0) -> list[Tensor]:
        x = self.tensor(x)
        axis = int(axis) % len(x.shape)
        dim = x.shape[axis]
        parts = (
            [dim // int(sizes)] * int(sizes)
            if isinstance(sizes, int | np.integer)
            else [int(s) for s in sizes]
        )
        if x.is_const:
            bounds = np.cumsum(parts)[:-1]
            return [self.graph.const(a) for a in np.split(x.data, bounds, axis=axis)]
        outs = []
        for size in parts:
            shape = list(x.shape)
            shape[axis] = size
            outs.append(self.graph.tensor(tuple(shape), x.np_dtype))
        if len(set(parts)) == 1:
            op = Operator("SPLIT", [self._int32(axis), x], outs, "SplitOptions", {"numSplits": len(parts)})
        else:
            op = Operator(
                "SPLIT_V",
                [x, self._int32(parts), self._int32(axis)],
                outs,
                "SplitVOptions",
                {"numSplits": len(parts)},
            )
        self.graph.add(op)
        return outs

    def tile(self, x: Any, multiples: Sequence[int]) -> Tensor:
        x = self.tensor(x)
        reps = [int(m) for m in multiples]
        return self._op(
            "TILE",
            [x, self._int32(reps)],
            [d * r for d, r in zip(x.shape, reps, strict=True)],
            x.np_dtype,
            "TileOptions",
            lambda a, _r: np.tile(a, reps),
        )

    def broadcast_to(self, x: Any, shape: Sequence[int]) -> Tensor:
        x = self.tensor(x)
        target = [int(d) for d in shape]
        if tuple(target) == x.shape:
            return x
        return self._op(
            "BROADCAST_TO",
            [x, self._int32(target)],
            target,
            x.np_dtype,
            None,
            lambda a, _s: np.broadcast_to(a, target),
        )

    def gather(self, x: Any, indices: Any, axis: int = 0) -> Tensor:
        x = self.tensor(x)
        axis = int(axis) % len(x.shape)
        if isinstance(indices, Tensor):
            idx = self.cast(indices, np.int32)
        else:
            picked = np.asarray(indices) % x.shape[axis]
            if x.data is None and picked.ndim <= 1 and _contiguous(picked):
                return self._slice_out(x, int(picked.reshape(-1)[0]), picked, axis)
            idx = self._int32(picked)
        shape = [*x.shape[:axis], *idx.shape, *x.shape[axis + 1 :]]
        return self._op(
            "GATHER",
            [x, idx],
            shape,
            x.np_dtype,
            "GatherOptions",
            lambda a, i: np.take(a, i, axis=axis),
            axis=axis,
        )

    def _slice_out(self, x: Tensor, start: int, picked: np.ndarray, axis: int) -> Tensor:
        """A constant gather of one index or a contiguous run as STRIDED_SLICE (+ RESHAPE dropping the axis
        for a scalar index): XNNPACK delegates those, not GATHER (ViT's q/k/v split and class token)."""
        index = tuple(
            slice(start, start + max(picked.size, 1)) if a == axis else slice(None)
            for a in range(len(x.shape))
        )
        part = self.strided_slice(x, index)
        if picked.ndim == 0:
            return self.reshape(part, [d for a, d in enumerate(x.shape) if a != axis])
        return part

    def gather_nd(self, x: Any, indices: Any, batch_dims: int = 0) -> Tensor:
        x, idx = self.tensor(x), self.tensor(indices)
        if batch_dims:
            raise NoDirectLoweringError("GatherND with batch_dims > 0")
        depth = idx.shape[-1]
        shape = [*idx.shape[:-1], *x.shape[depth:]]
        return self._op(
            "GATHER_ND",
            [x, self.cast(idx, np.int32)],
            shape,
            x.np_dtype,
            "GatherNdOptions",
            lambda a, i: a[tuple(np.moveaxis(i, -1, 0))],
        )

    def scatter_nd(self, indices: Any, updates: Any, shape: Sequence[int]) -> Tensor:
        idx, upd = self.tensor(indices), self.tensor(updates)
        target = [int(d) for d in shape]
        return self._op(
            "SCATTER_ND",
            [self.cast(idx, np.int32), upd, self._int32(target)],
            target,
            upd.np_dtype,
            "ScatterNdOptions",
        )

    def where(self, cond: Any, a: Any, b: Any) -> Tensor:
        c, x, y = self.tensor(cond), self.tensor(a), self.tensor(b)
        shape = np.broadcast_shapes(c.shape, x.shape, y.shape)
        return self._op("SELECT_V2", [c, x, y], shape, x.np_dtype, "SelectV2Options", np.where)

    def einsum(self, equation: str, *operands: Any) -> Tensor:
        from edgekit.converters.tflite.direct.einsum import einsum

        return einsum(self, equation, *operands)

    def strided_slice(self, x: Tensor, index: Any) -> Tensor:
        items = index if isinstance(index, tuple) else (index,)
        begin, end, strides, shape = [], [], [], []
        end_mask = 0
        for axis, dim in enumerate(x.shape):
            item = items[axis] if axis < len(items) else slice(None)
            if not isinstance(item, slice):
                raise NoDirectLoweringError("slicing with an integer index")
            start, stop, step = item.indices(dim)
            if step < 0 and stop < 0:
                end_mask |= 1 << axis
            begin.append(start)
            end.append(stop)
            strides.append(step)
            shape.append(len(range(start, stop, step)))
        if tuple(shape) == x.shape and all(s == 1 for s in strides):
            return x
        return self._op(
            "STRIDED_SLICE",
            [x, self._int32(begin), self._int32(end), self._int32(strides)],
            shape,
            x.np_dtype,
            "StridedSliceOptions",
            lambda a, *_: a[tuple(items)],
            endMask=end_mask,
        )

    # -- elementwise ---------------------------------------------------------------------------------
    def _binary(
        self,
        code: str,
        a: Any,
        b: Any,
        fold: Callable[..., np.ndarray],
        options: str | None,
        out_dtype: Any = None,
    ) -> Tensor:
        like = a if isinstance(a, Tensor) else b if isinstance(b, Tensor) else None
        x, y = self.tensor(a, like), self.tensor(b, like)
        x, y = self._same_integer_type(x, y), self._same_integer_type(y, x)
        shape = np.broadcast_shapes(x.shape, y.shape)
        dtype = out_dtype or x.np_dtype
        return self._op(code, [x, y], shape, dtype, options, fold)

    def _same_integer_type(self, t: Tensor, other: Tensor) -> Tensor:
        """An integer constant in the integer type of the tensor it meets (constants are held int32, ids int64)."""
        integers = t.np_dtype.kind in "iu" and other.np_dtype.kind in "iu" and t.np_dtype != other.np_dtype
        if integers and t.is_const and t.quant is None and not other.is_const:
            return self.graph.const(t.data, other.np_dtype)
        return t

    def _binary_fn(self, code: str, fold: Callable, options: str | None, out_dtype: Any = None) -> Callable:
        return lambda a, b: self._binary(code, a, b, fold, options, out_dtype)

    def _unary(self, code: str, x: Any, fold: Callable, options: str | None = None, **fields: Any) -> Tensor:
        t = self.tensor(x)
        return self._op(code, [t], t.shape, t.np_dtype, options, fold, **fields)

    def _unary_fn(self, code: str, fold: Callable, options: str | None = None) -> Callable:
        return lambda x: self._unary(code, x, fold, options)

    def add(self, a: Any, b: Any) -> Tensor:
        return self._binary("ADD", a, b, np.add, "AddOptions")

    def subtract(self, a: Any, b: Any) -> Tensor:
        return self._binary("SUB", a, b, np.subtract, "SubOptions")

    def multiply(self, a: Any, b: Any) -> Tensor:
        return self._binary("MUL", a, b, np.multiply, "MulOptions")

    def divide(self, a: Any, b: Any) -> Tensor:
        return self._binary("DIV", a, b, np.divide, "DivOptions")

    def negative(self, x: Any) -> Tensor:
        return self._unary("NEG", x, np.negative, "NegOptions")

    def square(self, x: Any) -> Tensor:
        return self._unary("SQUARE", x, np.square, "SquareOptions")

    def sqrt(self, x: Any) -> Tensor:
        return self._unary("SQRT", x, np.sqrt)

    def clip_by_value(self, x: Any, low: float, high: float) -> Tensor:
        t = self.tensor(x)
        if low > -math.inf:
            t = self.math.maximum(t, low)
        if high < math.inf:
            t = self.math.minimum(t, high)
        return t

    def relu(self, x: Any) -> Tensor:
        return self._unary("RELU", x, lambda a: np.maximum(a, 0))

    def relu6(self, x: Any) -> Tensor:
        return self._unary("RELU6", x, lambda a: np.clip(a, 0, 6))

    def leaky_relu(self, x: Any, alpha: float = 0.2) -> Tensor:
        return self._unary(
            "LEAKY_RELU", x, lambda a: np.where(a > 0, a, a * alpha), "LeakyReluOptions", alpha=float(alpha)
        )

    def prelu(self, x: Any, alpha: Any) -> Tensor:
        t, a = self.tensor(x), self.tensor(alpha, x)
        return self._op(
            "PRELU",
            [t, a],
            np.broadcast_shapes(t.shape, a.shape),
            t.np_dtype,
            None,
            lambda u, s: np.where(u >= 0, u, u * s),
        )

    def gelu(self, x: Any, approximate: bool = False) -> Tensor:
        return self._unary("GELU", x, None, "GeluOptions", approximate=bool(approximate))  # type: ignore[arg-type]

    def _last_axis(self, code: str, options: str, x: Any, axis: int, **fields: Any) -> Tensor:
        t = self.tensor(x)
        rank = len(t.shape)
        axis = int(axis) % rank
        if axis == rank - 1:
            return self._op(code, [t], t.shape, t.np_dtype, options, None, **fields)
        perm = [i for i in range(rank) if i != axis] + [axis]
        moved = self._op(
            code, [self.transpose(t, perm)], [t.shape[p] for p in perm], t.np_dtype, options, None, **fields
        )
        return self.transpose(moved, [perm.index(i) for i in range(rank)])

    def softmax(self, x: Any, axis: int = -1) -> Tensor:
        return self._last_axis("SOFTMAX", "SoftmaxOptions", x, axis, beta=1.0)

    def log_softmax(self, x: Any, axis: int = -1) -> Tensor:
        return self._last_axis("LOG_SOFTMAX", "LogSoftmaxOptions", x, axis)

    def cumsum(self, x: Any, axis: int = 0, exclusive: bool = False, reverse: bool = False) -> Tensor:
        t = self.tensor(x)
        axis = int(axis) % len(t.shape)

        def fold(a: np.ndarray, _axis: np.ndarray) -> np.ndarray:
            b = np.flip(a, axis) if reverse else a
            out = np.cumsum(b, axis=axis)
            if exclusive:
                out = out - b
            return np.flip(out, axis) if reverse else out

        return self._op(
            "CUMSUM",
            [t, self._int32(axis)],
            t.shape,
            t.np_dtype,
            "CumsumOptions",
            fold,
            exclusive=bool(exclusive),
            reverse=bool(reverse),
        )

    def top_k(self, x: Any, k: int, sorted: bool = True) -> tuple[Tensor, Tensor]:
        """TOPK_V2 along the last axis: (values, int32 indices), largest first."""
        t = self.tensor(x)
        count = int(k)
        shape = (*t.shape[:-1], count)
        values, indices = self.graph.tensor(shape, t.np_dtype), self.graph.tensor(shape, np.int32)
        self.graph.add(Operator("TOPK_V2", [t, self._int32(count)], [values, indices], "TopKV2Options", {}))
        return values, indices

    # -- reductions ----------------------------------------------------------------------------------
    def _reduce(self, code: str, fold: Callable, x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
        t = self.tensor(x)
        axes = _axis_list(axis, len(t.shape))
        shape = [1 if i in axes else d for i, d in enumerate(t.shape) if keepdims or i not in axes]
        if all(t.shape[a] == 1 for a in axes):  # reducing size-1 axes (a 1x1 map's global pool) moves nothing
            return self.reshape(t, shape)
        return self._op(
            code,
            [t, self._int32(axes)],
            shape,
            t.np_dtype,
            "ReducerOptions",
            lambda a, _ax: fold(a, axis=tuple(axes), keepdims=keepdims),
            keepDims=bool(keepdims),
        )

    def reduce_mean(self, x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
        return self._reduce("MEAN", np.mean, x, axis, keepdims)

    def reduce_sum(self, x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
        return self._reduce("SUM", np.sum, x, axis, keepdims)

    def reduce_max(self, x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
        return self._reduce("REDUCE_MAX", np.max, x, axis, keepdims)

    def reduce_min(self, x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
        return self._reduce("REDUCE_MIN", np.min, x, axis, keepdims)

    def reduce_prod(self, x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
        return self._reduce("REDUCE_PROD", np.prod, x, axis, keepdims)

    # -- convolutions, pooling, matmul ------------------------------------------------------------------
    def _zero_bias(self, channels: int) -> Tensor:
        return self.graph.const(np.zeros(channels, dtype=np.float32))

    def _weight(
        self, kernel: Any, arrange: Callable[[np.ndarray], np.ndarray], axis_map: int | None
    ) -> Tensor:
        """A constant kernel in TFLite layout; a fake-quantized one keeps its quantization on ``axis_map``."""
        k = self.tensor(kernel)
        if k.data is None:  # not k.is_const
            raise NoDirectLoweringError("a convolution / dense layer with a non-constant weight")
        out = self.graph.const(arrange(k.data))
        if k.quant is not None:
            out.quant = Quant(k.quant.scale, k.quant.zero_point, axis_map if axis_map is not None else 0)
        return out

    def conv2d(
        self, x: Tensor, kernel: Any, strides: Any = 1, padding: str = "VALID", dilations: Any = 1
    ) -> Tensor:
        k = self.tensor(kernel)
        _kh, _kw, _ci, co = k.shape
        weight = self._weight(k, lambda a: a.transpose(3, 0, 1, 2), 0)
        return self._conv("CONV_2D", "Conv2DOptions", x, k, weight, co, strides, padding, dilations)

    def depthwise_conv2d(
        self, x: Tensor, kernel: Any, strides: Any = 1, padding: str = "VALID", dilations: Any = 1
    ) -> Tensor:
        k = self.tensor(kernel)
        kh, kw, ci, mult = k.shape
        weight = self._weight(k, lambda a: a.reshape(1, kh, kw, ci * mult), 3)
        return self._conv(
            "DEPTHWISE_CONV_2D",
            "DepthwiseConv2DOptions",
            x,
            k,
            weight,
            ci * mult,
            strides,
            padding,
            dilations,
            depthMultiplier=mult,
        )

    def _conv(
        self,
        code: str,
        options: str,
        x: Tensor,
        k: Tensor,
        weight: Tensor,
        out_channels: int,
        strides: Any,
        padding: str,
        dilations: Any,
        **extra: Any,
    ) -> Tensor:
        """A CONV_2D / DEPTHWISE_CONV_2D of ``x`` with ``weight`` (in TFLite layout) and a zero bias that the
        fusion passes fill in; ``k`` is the kernel in TF layout, whose first two dims are the window."""
        kh, kw = k.shape[0], k.shape[1]
        sh, sw = _hw(strides)
        dh, dw = _hw(dilations if dilations is not None else 1)
        n, h, w, _c = x.shape
        shape = (
            n,
            _out_size(h, kh, sh, dh, padding),
            _out_size(w, kw, sw, dw, padding),
            out_channels,
        )
        return self._op(
            code,
            [x, weight, self._zero_bias(out_channels)],
            shape,
            np.float32,
            options,
            None,
            padding=_PADDING[padding],
            strideH=sh,
            strideW=sw,
            dilationHFactor=dh,
            dilationWFactor=dw,
            **extra,
        )

    def conv2d_transpose(
        self, x: Tensor, kernel: Any, output_shape: Sequence[int], strides: Any = 1, padding: str = "VALID"
    ) -> Tensor:
        k = self.tensor(kernel)  # [kh, kw, out, in]
        sh, sw = _hw(strides)
        weight = self._weight(k, lambda a: a.transpose(2, 0, 1, 3), 0)
        shape = [int(d) for d in output_shape]
        return self._op(
            "TRANSPOSE_CONV",
            [self._int32(shape), weight, x, None],
            shape,
            np.float32,
            "TransposeConvOptions",
            None,
            padding=_PADDING[padding],
            strideH=sh,
            strideW=sw,
        )

    def conv3d(
        self,
        x: Tensor,
        kernel: Any,
        strides: Sequence[int],
        padding: str,
        dilations: Sequence[int] | None = None,
    ) -> Tensor:
        """CONV_3D of an NDHWC ``x`` with a TF-layout ``[kd, kh, kw, in, out]`` kernel (TFLite's layout too);
        ``strides`` / ``dilations`` are 5-long as in ``tf.nn.conv3d``."""
        k = self.tensor(kernel)
        kd, kh, kw, _ci, co = k.shape
        weight = self._weight(k, lambda a: a, 4)
        s = [int(v) for v in strides][1:4]
        d = [int(v) for v in (dilations or [1] * 5)][1:4]
        n, depth, h, w, _c = x.shape
        shape = (
            n,
            _out_size(depth, kd, s[0], d[0], padding),
            _out_size(h, kh, s[1], d[1], padding),
            _out_size(w, kw, s[2], d[2], padding),
            co,
        )
        return self._op(
            "CONV_3D",
            [x, weight, None],
            shape,
            np.float32,
            "Conv3DOptions",
            None,
            padding=_PADDING[padding],
            strideD=s[0],
            strideH=s[1],
            strideW=s[2],
            dilationDFactor=d[0],
            dilationHFactor=d[1],
            dilationWFactor=d[2],
        )

    def _pool(self, code: str, x: Tensor, ksize: Any, strides: Any, padding: str) -> Tensor:
        kh, kw = _hw(ksize)
        sh, sw = _hw(strides)
        n, h, w, c = x.shape
        shape = (n, _out_size(h, kh, sh, 1, padding), _out_size(w, kw, sw, 1, padding), c)
        return self._op(
            code,
            [x],
            shape,
            x.np_dtype,
            "Pool2DOptions",
            None,
            padding=_PADDING[padding],
            strideH=sh,
            strideW=sw,
            filterHeight=kh,
            filterWidth=kw,
        )

    def avg_pool2d(self, x: Tensor, ksize: Any, strides: Any, padding: str) -> Tensor:
        return self._pool("AVERAGE_POOL_2D", x, ksize, strides, padding)

    def max_pool2d(self, x: Tensor, ksize: Any, strides: Any, padding: str) -> Tensor:
        return self._pool("MAX_POOL_2D", x, ksize, strides, padding)

    def matmul(self, a: Any, b: Any) -> Tensor:
        x, y = self.tensor(a), self.tensor(b)
        if y.is_const and len(y.shape) == 2 and not x.is_const:
            _k, n = y.shape
            weight = self._weight(y, lambda w: np.ascontiguousarray(w.T), 0)
            return self._op(
                "FULLY_CONNECTED",
                [x, weight, None],
                [*x.shape[:-1], n],
                np.float32,
                "FullyConnectedOptions",
                None,
                keepNumDims=len(x.shape) > 2,
            )
        lead = np.broadcast_shapes(x.shape[:-2], y.shape[:-2])
        return self._op(
            "BATCH_MATMUL",
            [x, y],
            [*lead, x.shape[-2], y.shape[-1]],
            x.np_dtype,
            "BatchMatMulOptions",
            np.matmul,
        )

    def _resize(self, code: str, options: str) -> Callable[..., Tensor]:
        def resize(
            x: Tensor, size: Sequence[int], align_corners: bool = False, half_pixel_centers: bool = False
        ) -> Tensor:
            hw = [int(s) for s in size]
            n, _h, _w, c = x.shape
            return self._op(
                code,
                [x, self._int32(hw)],
                (n, hw[0], hw[1], c),
                x.np_dtype,
                options,
                None,
                alignCorners=bool(align_corners),
                halfPixelCenters=bool(half_pixel_centers),
            )

        return resize

    # -- quantization (QDQ models) -----------------------------------------------------------------
    def quantize(self, x: Tensor, scale: Any, zero_point: Any, dtype: Any) -> Tensor:
        """Mark ``x`` as quantized with the ONNX (scale, zero point); ``quantize.py`` turns the marks into
        int8 / int16 tensors (uint8 is stored as int8 with the zero point shifted by -128: the same real
        values)."""
        zp = int(zero_point)
        stored = np.dtype(np.int16) if np.dtype(dtype) == np.int16 else np.dtype(np.int8)
        if np.dtype(dtype) == np.uint8:
            zp -= 128
        out = self.graph.tensor(x.shape, x.np_dtype)
        out.quant = Quant(
            np.asarray([scale], np.float32).reshape(-1), np.asarray([zp], np.int64), dtype=stored
        )
        self.graph.add(Operator(QUANT_MARK, [x], [out]))
        return out

    def quantized_constant(self, kernel: np.ndarray, scale: np.ndarray, channel_axis: int | None) -> Tensor:
        """A weight with its int8 scales (symmetric), per channel along ``channel_axis`` or per tensor."""
        out = self.graph.const(kernel.astype(np.float32))
        scales = np.asarray(scale, np.float32).reshape(-1)
        out.quant = Quant(
            scales, np.zeros(scales.size, np.int64), channel_axis if channel_axis is not None else 0
        )
        return out
