"""ONNX explicit pads -> TensorFlow "SAME" / "VALID" / an explicit pad."""

from __future__ import annotations

import math
from collections.abc import Sequence

from edgekit.errors import UnsupportedOpError


def onnx_pads(
    attrs: dict,
    spatial_in: Sequence[int],
    kernel: Sequence[int],
    strides: Sequence[int],
    dilations: Sequence[int],
    node_name: str,
) -> list[tuple[int, int]]:
    """Per spatial axis (before, after) padding, resolving ``auto_pad``."""
    auto_pad = attrs.get("auto_pad", b"NOTSET")
    auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else auto_pad
    n = len(spatial_in)
    if auto_pad in ("NOTSET", ""):
        pads = list(attrs.get("pads", [0] * (2 * n)))
        return [(pads[i], pads[i + n]) for i in range(n)]
    if auto_pad == "VALID":
        return [(0, 0)] * n
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        out = []
        for size, k, s, d in zip(spatial_in, kernel, strides, dilations, strict=True):
            total = max((math.ceil(size / s) - 1) * s + (k - 1) * d + 1 - size, 0)
            small = total // 2
            out.append((small, total - small) if auto_pad == "SAME_UPPER" else (total - small, small))
        return out
    raise UnsupportedOpError(f"node {node_name!r}: auto_pad={auto_pad} is not supported")


def tf_same_pads(
    spatial_in: Sequence[int], kernel: Sequence[int], strides: Sequence[int], dilations: Sequence[int]
) -> list[tuple[int, int]]:
    """The (before, after) padding TensorFlow's "SAME" applies."""
    out = []
    for size, k, s, d in zip(spatial_in, kernel, strides, dilations, strict=True):
        total = max((math.ceil(size / s) - 1) * s + (k - 1) * d + 1 - size, 0)
        out.append((total // 2, total - total // 2))
    return out


def tf_padding(
    pads: list[tuple[int, int]],
    spatial_in: Sequence[int],
    kernel: Sequence[int],
    strides: Sequence[int],
    dilations: Sequence[int],
) -> str | None:
    """ "VALID" or "SAME" when TF's own padding equals ``pads``, else None (pad explicitly)."""
    if all(p == (0, 0) for p in pads):
        return "VALID"
    if pads == tf_same_pads(spatial_in, kernel, strides, dilations):
        return "SAME"
    return None


def ceil_extra(size: int, pads: tuple[int, int], k: int, s: int, d: int) -> int:
    """Extra trailing padding that makes a VALID window count equal ONNX's ceil_mode output size."""
    span = size + pads[0] + pads[1] - ((k - 1) * d + 1)
    out_ceil = math.ceil(span / s) + 1
    # PyTorch/ONNX: the last window must start inside the (left-padded) input
    if (out_ceil - 1) * s >= size + pads[0]:
        out_ceil -= 1
    out_floor = span // s + 1
    # just enough for the last window to fit (a wider pad changes no output but defeats mirrored pooling pads)
    return max((out_ceil - 1) * s - span, 0) if out_ceil > out_floor else 0
