"""The op registry: one small handler per ONNX op type.

A handler receives a :class:`~edgekit.converters.tflite.values.NodeContext` and returns the node's
output values. Add an op by writing a function in ``ops/`` decorated with ``@register("OpType")``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Handler = Callable[[Any], "list[Any]"]
_HANDLERS: dict[str, Handler] = {}


def register(*op_types: str) -> Callable[[Handler], Handler]:
    """Register the decorated function as the handler of ``op_types``."""

    def decorate(fn: Handler) -> Handler:
        for op in op_types:
            if op in _HANDLERS:
                raise RuntimeError(
                    f"ONNX op {op} registered twice ({_HANDLERS[op].__module__}, {fn.__module__})"
                )
            _HANDLERS[op] = fn
        return fn

    return decorate


def _load_ops() -> None:
    from edgekit.converters.tflite import ops  # noqa: F401  (importing registers every handler)


def handler(op_type: str) -> Handler | None:
    _load_ops()
    return _HANDLERS.get(op_type)


def supported_ops() -> list[str]:
    """ONNX op types the translator handles."""
    _load_ops()
    return sorted(_HANDLERS)
