"""Rescale limits of LiteRT's int8 ADD / SUB / MUL kernels, checked before a file is written.

LiteRT's ADD and SUB prepare their rescale with ``QuantizeMultiplierSmallerThanOneExp``
(``tensorflow/lite/kernels/add.cc``, ``sub.cc``; ``internal/quantization_util.cc``), whose
``TFLITE_CHECK_LT(multiplier, 1.)`` *aborts the process* (SIGABRT, no Python exception) when

    2 * max(s_in1, s_in2) / (2**left_shift * s_out) >= 1      (left_shift 20 for int8, 15 for int16)

that is, when the output scale is below about 2**-19 of the larger input scale: an output range that is
degenerate next to its inputs (LeViT's zero-initialised BatchNorm: a product that is all zeros, observed
at the observer's minimum scale 1.19e-7, added to a constant of scale 1). LiteRT's int8 MUL does not
abort, but its rescale ``s_in1 * s_in2 / s_out`` overflows the int32 accumulator when it reaches 2**15
(the product of two offset int8 values needs up to 16 bits): measured, a multiplier of 1e9 wraps
saturated outputs around (-1 * c gave +127).

Such an output is widened to the smallest safe scale (a 1/64 margin inside the limit), with a note: the
output then resolves 2**-19 (ADD / SUB) or 2**-15 (MUL) of an input step, far below the inputs' own
rounding, so no information is lost. Every activation that carries the same parameters (the RESHAPE /
TRANSPOSE after it) is widened with it, so same-scale kernels stay consistent.
"""

from __future__ import annotations

import numpy as np

from edgekit.converters.tflite.direct.ir import Graph, Operator, Quant, Tensor, same_quant
from edgekit.errors import ConversionError

#: ADD / SUB: the left shift LiteRT applies to both inputs before rescaling, per activation type.
LEFT_SHIFT = {np.dtype(np.int8): 20, np.dtype(np.int16): 15}
#: int8 MUL: the largest rescale whose product of two offset int8 values (|x| < 2**16) stays in int32.
MUL_LIMIT = 2.0**15
MARGIN = 1.0 + 1.0 / 64


def _scale(t: Tensor | None) -> float | None:
    if t is None or t.quant is None or t.quant.scale.size != 1:
        return None
    return float(t.quant.scale[0])


def _safe_scale(op: Operator) -> float | None:
    """The smallest output scale LiteRT's kernel accepts for ``op``, or None when ``op`` is not an int8 /
    int16 ADD, SUB or MUL with per-tensor scales."""
    if op.code not in ("ADD", "SUB", "MUL") or len(op.inputs) != 2:
        return None
    out = op.outputs[0]
    scales = [_scale(t) for t in op.inputs]
    if out.quant is None or None in scales or _scale(out) is None:
        return None
    s1, s2 = (float(s) for s in scales)  # type: ignore[arg-type]
    if op.code == "MUL":
        return s1 * s2 / MUL_LIMIT if out.quant.dtype == np.int8 else None
    shift = LEFT_SHIFT.get(np.dtype(out.quant.dtype))
    return None if shift is None else 2.0 * max(s1, s2) / 2.0**shift


def _where(op: Operator) -> str:
    return f"{op.code} writing {op.outputs[0].name!r}" + (f" (from {op.origin})" if op.origin else "")


def check_rescales(graph: Graph, notes: list[str]) -> None:
    """Widen every ADD / SUB / MUL output scale LiteRT would abort on (or, for MUL, overflow with), in graph
    order so a widened output is the next op's input; raise :class:`ConversionError` naming the op when
    the scales are not finite and positive."""
    for op in graph.operators:
        safe = _safe_scale(op)
        if safe is None:
            continue
        out = op.outputs[0]
        assert out.quant is not None
        current = float(out.quant.scale[0])
        if not (np.isfinite(safe) and safe > 0 and np.isfinite(current) and current > 0):
            raise ConversionError(
                f"{_where(op)} has input scales {[_scale(t) for t in op.inputs]} and output scale {current}: "
                "LiteRT cannot rescale them; re-calibrate so that these tensors see finite, non-constant values"
            )
        if current >= safe:
            continue
        wanted = safe * MARGIN
        old = out.quant
        new = Quant(np.asarray([wanted], np.float32), old.zero_point.copy(), old.axis, dtype=old.dtype)
        _replace(graph, out, new)
        notes.append(
            f"int8: {_where(op)} had output scale {current:.3g}, below the {safe:.3g} LiteRT's {op.code} kernel "
            f"can rescale to ({'the process aborts' if op.code != 'MUL' else 'int32 overflow'}); widened to "
            f"{wanted:.3g} (a degenerate output range, e.g. an all-zero product; nothing is lost at that scale)"
        )


def _replace(graph: Graph, tensor: Tensor, new: Quant) -> None:
    """Give ``tensor`` the parameters ``new``, and the outputs of the same-scale ops that read it with its
    old parameters (RESHAPE, TRANSPOSE, ...: their kernels copy the integers), transitively."""
    from edgekit.converters.tflite.direct.quantize import SAME_SCALE  # quantize.py imports this module

    readers = graph.consumers()
    stack = [tensor]
    while stack:
        t = stack.pop()
        old, t.quant = t.quant, new
        for op in readers.get(id(t), []):
            if op.code not in SAME_SCALE:
                continue
            for out in op.outputs:
                if out.quant is not None and out.quant is not new and same_quant(out.quant, old):
                    if op.code == "CONCATENATION":
                        raise ConversionError(
                            f"{_where(op)} shares the degenerate scale of {tensor.name!r}, which LiteRT cannot "
                            "rescale to; re-calibrate so that this tensor sees non-constant values"
                        )
                    stack.append(out)
