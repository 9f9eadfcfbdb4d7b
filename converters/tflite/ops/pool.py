"""MaxPool, AveragePool (incl. padding semantics and ceil_mode; 1-D as 2-D on a height-1 map), global pooling."""

from __future__ import annotations

import numpy as np

from edgekit.converters.tflite.ops._one_d import as_2d, back_to_1d
from edgekit.converters.tflite.ops._padding import ceil_extra, onnx_pads, tf_padding
from edgekit.converters.tflite.registry import register
from edgekit.converters.tflite.values import Layout, NodeContext, Value, as_layout
from edgekit.errors import UnsupportedOpError


def _geometry(ctx: NodeContext) -> tuple[list[int], list[int], list[tuple[int, int]], list[int]]:
    x = ctx.input(0)
    if x.rank != 4:
        raise UnsupportedOpError(
            f"{ctx.node.op_type} node {ctx.node.name!r}: only 1-D and 2-D pooling are supported"
        )
    kernel = list(ctx.attr("kernel_shape"))
    strides = list(ctx.attr("strides", [1, 1]))
    dilations = list(ctx.attr("dilations", [1, 1]))
    if any(d != 1 for d in dilations):
        raise UnsupportedOpError(
            f"{ctx.node.op_type} node {ctx.node.name!r}: dilated pooling is not supported"
        )
    spatial = list(x.onnx_shape[2:])
    pads = onnx_pads(ctx.attrs, spatial, kernel, strides, dilations, ctx.node.name)
    if ctx.attr("ceil_mode", 0):
        pads = [
            (b, a + ceil_extra(size, (b, a), k, s, 1))
            for (b, a), size, k, s in zip(pads, spatial, kernel, strides, strict=True)
        ]
    return kernel, strides, pads, spatial


@register("MaxPool")
def max_pool(ctx: NodeContext) -> list[Value]:
    tf = ctx.tf
    if ctx.input(0).rank == 3:
        return [back_to_1d(tf, max_pool(as_2d(ctx, weight_input=False))[0])]
    if len(ctx.node.output) > 1 and ctx.node.output[1]:
        raise UnsupportedOpError(f"MaxPool node {ctx.node.name!r}: the Indices output is not supported")
    kernel, strides, pads, spatial = _geometry(ctx)
    x = as_layout(tf, ctx.input(0), Layout.NHWC)
    padding = tf_padding(pads, spatial, kernel, strides, [1, 1])
    if padding is None:
        paddings = [[0, 0], list(pads[0]), list(pads[1]), [0, 0]]
        if not getattr(tf, "writes_scales", False) and _mirror_keeps_max(pads, spatial, kernel):
            # TensorFlow's calibrator would observe a float32-min pad value: the pool's int8 scale became
            # 1e36 (every activation 0) and XNNPACK refused the file. Mirrored values are inside the window.
            x = tf.pad(x, paddings, mode="SYMMETRIC")
        else:
            x = tf.pad(x, paddings, constant_values=x.dtype.min)
        padding = "VALID"
    return [Value(tf.nn.max_pool2d(x, kernel, strides, padding), Layout.NHWC)]


def _mirror_keeps_max(pads: list[tuple[int, int]], spatial: list[int], kernel: list[int]) -> bool:
    """Symmetric (edge-mirrored) padding changes no window's max: every mirrored element is also inside each
    window that holds it (pad <= kernel / 2), and the mirror fits in the input."""
    return all(2 * max(p) <= k and max(p) <= size for p, size, k in zip(pads, spatial, kernel, strict=True))


@register("AveragePool")
def average_pool(ctx: NodeContext) -> list[Value]:
    tf = ctx.tf
    if ctx.input(0).rank == 3:
        return [back_to_1d(tf, average_pool(as_2d(ctx, weight_input=False))[0])]
    kernel, strides, pads, spatial = _geometry(ctx)
    x = as_layout(tf, ctx.input(0), Layout.NHWC)
    explicit = onnx_pads(ctx.attrs, spatial, kernel, strides, [1, 1], ctx.node.name)
    include_pad = bool(ctx.attr("count_include_pad", 0))
    padding = tf_padding(pads, spatial, kernel, strides, [1, 1])
    if padding == "VALID" or (padding == "SAME" and not include_pad and pads == explicit):
        return [Value(tf.nn.avg_pool2d(x, kernel, strides, padding), Layout.NHWC)]
    # Pad with zeros, average over the full window, then correct the divisor where ONNX counts fewer
    # elements (padding excluded, or the ceil_mode overhang, which is never counted).
    x = tf.pad(x, [[0, 0], list(pads[0]), list(pads[1]), [0, 0]])
    y = tf.nn.avg_pool2d(x, kernel, strides, "VALID")
    counts = _window_counts(spatial, kernel, strides, pads, explicit if include_pad else [(0, 0), (0, 0)])
    full = kernel[0] * kernel[1]
    if not np.all(counts == full):
        y = y * tf.constant((full / counts)[None, :, :, None].astype(np.float32))
    return [Value(y, Layout.NHWC)]


def _window_counts(
    spatial: list[int],
    kernel: list[int],
    strides: list[int],
    pads: list[tuple[int, int]],
    counted_pads: list[tuple[int, int]],
) -> np.ndarray:
    """How many elements ONNX divides by in each output window (2-D)."""
    axes = []
    for size, k, s, (before, after), (cb, ca) in zip(
        spatial, kernel, strides, pads, counted_pads, strict=True
    ):
        valid = np.zeros(size + before + after)
        valid[before - cb : before + size + ca] = 1
        n_out = (size + before + after - k) // s + 1
        axes.append(np.array([valid[i * s : i * s + k].sum() for i in range(n_out)]))
    return np.outer(axes[0], axes[1])


def _global_plain(ctx: NodeContext, reduce) -> list[Value] | None:
    """Global pooling of a non-4-D [N, C, ...] tensor over its spatial axes, or None for a 4-D one."""
    x = ctx.input(0)
    if x.rank == 4:
        return None
    return [Value(reduce(as_layout(ctx.tf, x, Layout.PLAIN), axis=list(range(2, x.rank)), keepdims=True))]


@register("GlobalAveragePool")
def global_average_pool(ctx: NodeContext) -> list[Value]:
    plain = _global_plain(ctx, ctx.tf.reduce_mean)
    if plain is not None:
        return plain
    x = as_layout(ctx.tf, ctx.input(0), Layout.NHWC)
    return [Value(ctx.tf.reduce_mean(x, axis=[1, 2], keepdims=True), Layout.NHWC)]


@register("GlobalMaxPool")
def global_max_pool(ctx: NodeContext) -> list[Value]:
    plain = _global_plain(ctx, ctx.tf.reduce_max)
    if plain is not None:
        return plain
    x = as_layout(ctx.tf, ctx.input(0), Layout.NHWC)
    return [Value(ctx.tf.reduce_max(x, axis=[1, 2], keepdims=True), Layout.NHWC)]
