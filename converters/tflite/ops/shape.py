"""Shape-moving ops: Reshape, Flatten, Transpose, (Un)Squeeze, Concat, Split, Slice, Gather, ..."""

from __future__ import annotations

import numpy as np

from edgekit.converters.onnx_proto import np_dtype
from edgekit.converters.tflite.registry import register
from edgekit.converters.tflite.values import (
    NHWC_TO_NCHW,
    Layout,
    NodeContext,
    Value,
    as_layout,
    common_layout,
    nhwc_axis,
    to_tensor,
)
from edgekit.errors import UnsupportedOpError


def _plain(ctx: NodeContext, index: int = 0):
    return as_layout(ctx.tf, ctx.input(index), Layout.PLAIN)


def _flattens_trivially(value: Value) -> bool:
    """An NHWC-held [N, C, 1, 1] flattens to [N, C] without a transpose."""
    return value.layout is Layout.NHWC and value.onnx_shape[2] == 1 and value.onnx_shape[3] == 1


@register("Identity", "Dropout", keeps_flat=True)
def identity(ctx: NodeContext) -> list[Value]:
    return [ctx.input(0)]


@register("Shape")
def shape(ctx: NodeContext) -> list[Value]:
    dims = np.array(ctx.input(0).onnx_shape, dtype=np.int64)
    start, end = ctx.attr("start", 0), ctx.attr("end", None)
    return [Value(dims[start:end])]


@register("Cast")
def cast(ctx: NodeContext) -> list[Value]:
    dtype = np_dtype(int(ctx.attr("to")))
    x = ctx.input(0)
    return [Value(ctx.tf.cast(to_tensor(ctx.tf, x), dtype), x.layout)]


@register("Reshape")
def reshape(ctx: NodeContext) -> list[Value]:
    x = ctx.input(0)
    target = [int(d) for d in ctx.const_input(1, "the target shape")]
    in_shape = x.onnx_shape
    if not ctx.attr("allowzero", 0):
        target = [in_shape[i] if d == 0 else d for i, d in enumerate(target)]
    if (
        x.layout is Layout.NHWC
        and not _flattens_trivially(x)
        and len(target) == 2
        and _keeps_batch(target, in_shape)
    ):
        return _flat_nhwc(ctx, x)
    source = x.data if _flattens_trivially(x) and len(target) == 2 else _plain(ctx)
    return [Value(ctx.tf.reshape(source, target))]


def _keeps_batch(target: list[int], in_shape: tuple[int, ...]) -> bool:
    """``target`` reshapes [N, C, H, W] to [N, C*H*W] (either entry may be -1)."""
    features = int(np.prod(in_shape[1:]))
    return (target[0] == in_shape[0] and target[1] in (-1, features)) or (
        target[0] == -1 and target[1] == features
    )


def _flat_nhwc(ctx: NodeContext, x: Value) -> list[Value]:
    """[N, C, H, W] -> [N, C*H*W] without a transpose: flatten the NHWC data and remember (C, H, W), so a
    following Gemm permutes its weight rows instead (``keeps_flat``); any other consumer gets it re-ordered."""
    n, c, h, w = x.onnx_shape
    return [Value(ctx.tf.reshape(x.data, (n, c * h * w)), Layout.FLAT_NHWC, (c, h, w))]


@register("Flatten")
def flatten(ctx: NodeContext) -> list[Value]:
    x = ctx.input(0)
    axis = int(ctx.attr("axis", 1)) % max(x.rank, 1)
    shape = x.onnx_shape
    lead = int(np.prod(shape[:axis])) if axis else 1
    if x.layout is Layout.NHWC and axis == 1 and not _flattens_trivially(x):
        return _flat_nhwc(ctx, x)
    source = x.data if _flattens_trivially(x) and axis == 1 else _plain(ctx)
    return [Value(ctx.tf.reshape(source, (lead, -1)))]


@register("Transpose")
def transpose(ctx: NodeContext) -> list[Value]:
    x = ctx.input(0)
    perm = list(ctx.attr("perm", list(range(x.rank))[::-1]))
    if x.layout is Layout.NHWC:
        # y = x_nchw.transpose(perm) and x_nchw = x_nhwc.transpose(NHWC_TO_NCHW)
        perm = [NHWC_TO_NCHW[p] for p in perm]
    if perm == list(range(x.rank)):
        return [Value(x.data)]
    if perm == list(NHWC_TO_NCHW) and not x.is_const:
        # channels-last data permuted to ONNX's NCHW (ConvNeXt's permute back after its LayerNorm and MLP):
        # the data already is that NCHW tensor held as NHWC, so nothing is emitted
        return [Value(x.data, Layout.NHWC)]
    return [Value(ctx.tf.transpose(x.data if not x.is_const else to_tensor(ctx.tf, x), perm))]


@register("Squeeze")
def squeeze(ctx: NodeContext) -> list[Value]:
    x = ctx.input(0)
    if len(ctx.inputs) > 1 and ctx.inputs[1] is not None:
        axes = [int(a) for a in ctx.const_input(1, "axes")]
    else:
        axes = list(ctx.attr("axes", [i for i, d in enumerate(x.onnx_shape) if d == 1]))
    axes = [a % x.rank for a in axes]
    if _flattens_trivially(x) and sorted(axes) == [2, 3]:
        return [Value(ctx.tf.squeeze(x.data, axis=[1, 2]))]
    return [Value(ctx.tf.squeeze(_plain(ctx), axis=axes))]


@register("Unsqueeze")
def unsqueeze(ctx: NodeContext) -> list[Value]:
    x = ctx.input(0)
    if len(ctx.inputs) > 1 and ctx.inputs[1] is not None:
        axes = [int(a) for a in ctx.const_input(1, "axes")]
    else:
        axes = list(ctx.attr("axes"))
    out_rank = x.rank + len(axes)
    shape = list(x.onnx_shape)
    for a in sorted(a % out_rank for a in axes):
        shape.insert(a, 1)
    if x.rank == 2 and out_rank == 4 and shape[2:] == [1, 1]:  # [N, C] -> [N, C, 1, 1]: free in NHWC
        return [Value(ctx.tf.reshape(_plain(ctx), (shape[0], 1, 1, shape[1])), Layout.NHWC)]
    return [Value(ctx.tf.reshape(_plain(ctx), shape))]


@register("Concat")
def concat(ctx: NodeContext) -> list[Value]:
    tf = ctx.tf
    layout, rank = common_layout(ctx.inputs)
    axis = int(ctx.attr("axis")) % rank
    tensors = [as_layout(tf, v, layout) for v in ctx.required_inputs()]
    return [Value(tf.concat(tensors, axis=nhwc_axis(axis) if layout is Layout.NHWC else axis), layout)]


@register("Split")
def split(ctx: NodeContext) -> list[Value]:
    tf = ctx.tf
    x = ctx.input(0)
    axis = int(ctx.attr("axis", 0)) % x.rank
    if len(ctx.inputs) > 1 and ctx.inputs[1] is not None:
        sizes = [int(s) for s in ctx.const_input(1, "split sizes")]
    elif ctx.attr("split") is not None:
        sizes = list(ctx.attr("split"))
    else:
        n = int(ctx.attr("num_outputs", len(ctx.node.output)))
        total = x.onnx_shape[axis]
        step = -(-total // n)
        sizes = [min(step, total - i * step) for i in range(n)]
    tf_axis = nhwc_axis(axis) if x.layout is Layout.NHWC else axis
    return [Value(t, x.layout) for t in tf.split(to_tensor(tf, x), sizes, axis=tf_axis)]


@register("Slice")
def slice_(ctx: NodeContext) -> list[Value]:
    x = ctx.input(0)
    starts = [int(v) for v in ctx.const_input(1, "starts")]
    ends = [int(v) for v in ctx.const_input(2, "ends")]
    axes = (
        [int(v) for v in ctx.const_input(3, "axes")]
        if len(ctx.inputs) > 3 and ctx.inputs[3] is not None
        else list(range(len(starts)))
    )
    steps = (
        [int(v) for v in ctx.const_input(4, "steps")]
        if len(ctx.inputs) > 4 and ctx.inputs[4] is not None
        else [1] * len(starts)
    )
    index = [slice(None)] * x.rank
    big = 2**31 - 1
    for s, e, a, st in zip(starts, ends, axes, steps, strict=True):
        a %= x.rank
        tf_axis = nhwc_axis(a) if x.layout is Layout.NHWC else a
        index[tf_axis] = slice(max(min(s, big), -big), max(min(e, big), -big - 1) if e > -big else None, st)
    return [Value(to_tensor(ctx.tf, x)[tuple(index)], x.layout)]


@register("Gather")
def gather(ctx: NodeContext) -> list[Value]:
    x = ctx.input(0)
    indices = ctx.input(1)
    axis = int(ctx.attr("axis", 0)) % x.rank
    idx = indices.const if indices.is_const else indices.data
    return [Value(ctx.tf.gather(_plain(ctx) if not x.is_const else to_tensor(ctx.tf, x), idx, axis=axis))]


@register("Expand")
def expand(ctx: NodeContext) -> list[Value]:
    x = ctx.input(0)
    target = [int(d) for d in ctx.const_input(1, "the target shape")]
    out_shape = list(np.broadcast_shapes(tuple(x.onnx_shape), tuple(target)))
    return [Value(ctx.tf.broadcast_to(_plain(ctx), out_shape))]


@register("Tile")
def tile(ctx: NodeContext) -> list[Value]:
    repeats = [int(r) for r in ctx.const_input(1, "repeats")]
    return [Value(ctx.tf.tile(_plain(ctx), repeats))]


@register("ConstantOfShape")
def constant_of_shape(ctx: NodeContext) -> list[Value]:
    raise UnsupportedOpError(f"ConstantOfShape node {ctx.node.name!r}: its shape input must be a constant")
