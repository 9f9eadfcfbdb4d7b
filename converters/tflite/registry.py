"""The op registry: one small handler per ONNX op type.

A handler receives a :class:`~edgekit.converters.tflite.values.NodeContext` and returns the node's
output values. Add an op by writing a function in ``ops/`` decorated with ``@register("OpType")``; what
the builder must know about the op is said there too: ``keeps_flat=True`` when the handler takes a
FLAT_NHWC input as it is (elementwise, per-tensor, or a constant-weight Gemm/MatMul that permutes its
weight rows instead; every other op receives it as PLAIN), ``fold=False`` when constant inputs must reach
the handler instead of being folded (QuantizeLinear/DequantizeLinear give constants a meaning of their own).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Handler = Callable[[Any], "list[Any]"]
_HANDLERS: dict[str, Handler] = {}
_KEEPS_FLAT: set[str] = set()
_NO_FOLD: set[str] = set()


def register(*op_types: str, keeps_flat: bool = False, fold: bool = True) -> Callable[[Handler], Handler]:
    """Register the decorated function as the handler of ``op_types`` (see module docstring)."""

    def decorate(fn: Handler) -> Handler:
        for op in op_types:
            if op in _HANDLERS:
                raise RuntimeError(
                    f"ONNX op {op} registered twice ({_HANDLERS[op].__module__}, {fn.__module__})"
                )
            _HANDLERS[op] = fn
            if keeps_flat:
                _KEEPS_FLAT.add(op)
            if not fold:
                _NO_FOLD.add(op)
        return fn

    return decorate


def _load_ops() -> None:
    from edgekit.converters.tflite import ops  # noqa: F401  (importing registers every handler)


def handler(op_type: str) -> Handler | None:
    _load_ops()
    return _HANDLERS.get(op_type)


def keeps_flat(op_type: str) -> bool:
    """The handler of ``op_type`` takes a FLAT_NHWC input as it is."""
    _load_ops()
    return op_type in _KEEPS_FLAT


def foldable(op_type: str) -> bool:
    """A node of ``op_type`` with only constant inputs may be evaluated at conversion time."""
    _load_ops()
    return op_type not in _NO_FOLD


def supported_ops() -> list[str]:
    """ONNX op types the translator handles."""
    _load_ops()
    return sorted(_HANDLERS)
