"""Einsum as TRANSPOSE / RESHAPE / SUM / BATCH_MATMUL (TFLite has no einsum builtin).

Two operands: the labels are grouped into batch (both operands and the output), contracted (both, not the
output), left-only and right-only; each operand is transposed to ``[batch, own, contracted]`` order,
flattened to 3-D, multiplied with BATCH_MATMUL and reshaped / transposed into the output order. Labels
that appear in one operand only and not in the output are summed out first. One operand: SUM + TRANSPOSE.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgekit.converters.tflite.direct.emitter import NoDirectLoweringError


def _parse(equation: str, count: int) -> tuple[list[str], str]:
    if "..." in equation or "->" not in equation:
        raise NoDirectLoweringError(
            f"Einsum {equation!r} (only explicit equations without '...' are lowered)"
        )
    lhs, out = equation.split("->")
    terms = lhs.split(",")
    if len(terms) != count or count not in (1, 2) or any(len(set(t)) != len(t) for t in terms):
        raise NoDirectLoweringError(
            f"Einsum {equation!r} (one or two operands without repeated labels are lowered)"
        )
    return terms, out


def _sum_out(em: Any, x: Any, term: str, keep: set[str]) -> tuple[Any, str]:
    axes = [i for i, c in enumerate(term) if c not in keep]
    if not axes:
        return x, term
    return em.reduce_sum(x, axis=axes, keepdims=False), "".join(c for c in term if c in keep)


def einsum(em: Any, equation: str, *operands: Any) -> Any:
    terms, out = _parse(equation, len(operands))
    if len(operands) == 1:
        x, term = _sum_out(em, em.tensor(operands[0]), terms[0], set(out))
        return em.transpose(x, [term.index(c) for c in out])
    a, b = (em.tensor(o) for o in operands)
    ta, tb = terms
    a, ta = _sum_out(em, a, ta, set(tb) | set(out))
    b, tb = _sum_out(em, b, tb, set(ta) | set(out))
    size = {c: d for t, x in ((ta, a), (tb, b)) for c, d in zip(t, x.shape, strict=True)}
    batch = [c for c in out if c in ta and c in tb]
    contract = [c for c in ta if c in tb and c not in out]
    left = [c for c in ta if c not in tb]
    right = [c for c in tb if c not in ta]

    def dims(labels: list[str]) -> int:
        return int(np.prod([size[c] for c in labels])) if labels else 1

    a3 = em.reshape(
        em.transpose(a, [ta.index(c) for c in batch + left + contract]),
        [dims(batch), dims(left), dims(contract)],
    )
    b3 = em.reshape(
        em.transpose(b, [tb.index(c) for c in batch + contract + right]),
        [dims(batch), dims(contract), dims(right)],
    )
    y = em.matmul(a3, b3)
    produced = batch + left + right
    y = em.reshape(y, [size[c] for c in produced])
    return em.transpose(y, [produced.index(c) for c in out])
