"""Static input shapes for a model file: one parser for the CLI flag and the Python API.

>>> parse_input_shapes("x:1x3x224x224,mask:1x77")
{'x': (1, 3, 224, 224), 'mask': (1, 77)}
>>> parse_input_shapes({"x": [1, 3, 32, 32]})
{'x': (1, 3, 32, 32)}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from edgekit.errors import InputShapeError

FLAG = "--input-shapes"


def parse_input_shapes(spec: str | Mapping[str, Sequence[int]] | None) -> dict[str, tuple[int, ...]] | None:
    """``"name:1x3x224x224[,name2:...]"`` or ``{name: shape}`` -> ``{name: (dims...)}``; None stays None."""
    if spec is None:
        return None
    items: list[tuple[str, Sequence[Any]]] = []
    if isinstance(spec, Mapping):
        items = [(str(k), v) for k, v in spec.items()]
    else:
        for part in str(spec).split(","):
            name, sep, text = part.strip().rpartition(":")
            if not sep or not name or not text:
                raise InputShapeError(
                    f"cannot read input shape {part.strip()!r}: write {FLAG} name:1x3x224x224[,name2:1x77]"
                )
            items.append((name, text.lower().split("x")))
    shapes: dict[str, tuple[int, ...]] = {}
    for name, dims in items:
        try:
            shape = tuple(int(d) for d in dims)
        except (TypeError, ValueError):
            shape = ()
        if not shape or any(d <= 0 for d in shape):
            raise InputShapeError(
                f"input shape for {name!r} must be positive integers such as 1x3x224x224, got {dims!r}"
            )
        shapes[name] = shape
    return shapes


def parse_shape(text: str) -> tuple[int, ...]:
    """One unnamed shape, ``1x3x224x224`` or ``1,3,224,224``.

    >>> parse_shape("1x3x224x224") == parse_shape("1,3,224,224") == (1, 3, 224, 224)
    True
    """
    dims = text.strip().lower().replace(",", "x").split("x")
    try:
        shape = tuple(int(d) for d in dims)
    except ValueError:
        shape = ()
    if not shape or any(d <= 0 for d in shape):
        raise InputShapeError(f"cannot read the shape {text!r}: write positive sizes such as 1x3x224x224")
    return shape


def _graph_inputs(model: Any) -> list[Any]:
    initializers = {t.name for t in model.graph.initializer}
    return [i for i in model.graph.input if i.name not in initializers]


def _dims(value_info: Any) -> list[int | str]:
    return [
        d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else (d.dim_param or "?")
        for d in value_info.type.tensor_type.shape.dim
    ]


def example_flag(model: Any, known: Mapping[str, Sequence[int]] | None = None) -> str:
    """An ``--input-shapes`` flag for ``model`` with 1 for the batch and symbolic dims filled in as N."""
    parts = []
    for inp in _graph_inputs(model):
        dims = list((known or {}).get(inp.name) or _dims(inp))
        text = "x".join(
            str(d) if isinstance(d, int) else ("1" if i == 0 else "N") for i, d in enumerate(dims)
        )
        parts.append(f"{inp.name}:{text}")
    return f"{FLAG} {','.join(parts)}"


def symbolic_dims(model: Any, *, raise_beyond_batch: bool = False) -> dict[str, list[tuple[int, str]]]:
    """``{input: [(axis, dim name), ...]}`` for every symbolic dim of an ``onnx.ModelProto``'s inputs.

    With ``raise_beyond_batch``, any symbolic dim other than axis 0 raises :class:`InputShapeError`
    listing them all and an example flag (a symbolic batch becomes 1).
    """
    found = {
        inp.name: [(axis, str(d)) for axis, d in enumerate(_dims(inp)) if not isinstance(d, int)]
        for inp in _graph_inputs(model)
    }
    found = {name: dims for name, dims in found.items() if dims}
    if raise_beyond_batch and any(axis > 0 for dims in found.values() for axis, _ in dims):
        listed = "; ".join(
            f"{name}: " + ", ".join(f"axis {axis} ({dim})" for axis, dim in dims)
            for name, dims in found.items()
        )
        raise InputShapeError(
            f"the model has symbolic input dims ({listed}); TFLite needs static shapes: give them, e.g. "
            f"{example_flag(model)} (Python: input_shapes={{name: (1, ...)}}), with N replaced by your size"
        )
    return found


def check_input_shapes(model: Any, shapes: Mapping[str, Sequence[int]]) -> None:
    """Raise :class:`InputShapeError` when a name is not a model input or a rank/static dim differs."""
    inputs = {i.name: _dims(i) for i in _graph_inputs(model)}
    for name, shape in shapes.items():
        if name not in inputs:
            raise InputShapeError(
                f"{FLAG} names {name!r}, which is not an input of the model; its inputs are "
                f"{', '.join(inputs)} (e.g. {example_flag(model)})"
            )
        dims = inputs[name]
        if len(dims) != len(shape):
            raise InputShapeError(
                f"input {name!r} has rank {len(dims)} ({'x'.join(map(str, dims))}), the given shape "
                f"{'x'.join(map(str, shape))} has rank {len(shape)}: e.g. {example_flag(model)}"
            )
        for axis, (d, s) in enumerate(zip(dims, shape, strict=True)):
            if isinstance(d, int) and d != s and axis > 0:
                raise InputShapeError(
                    f"input {name!r} has the fixed size {d} on axis {axis}, the given shape says {s}: "
                    f"e.g. {example_flag(model)}"
                )
