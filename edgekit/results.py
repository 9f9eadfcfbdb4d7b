"""``VerbResult``: what every verb returns — the model that came out (if any), ``to_dict()``, ``summary()``.

Results are returned, never stored as attributes on a module; a verb that takes a model also takes a
result in its place and uses its ``.model``, so calls chain:
``ek.export(ek.quantize(model, x, calibrate=batches), x, "m.tflite")``.

>>> unwrap_model("m.onnx")
'm.onnx'
"""

from __future__ import annotations

import dataclasses
from enum import Enum
from pathlib import Path
from typing import Any


def _plain(value: Any) -> Any:
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


class VerbResult:
    """Mixin for result dataclasses: ``to_dict()`` (every field but ``model``) and a one-line ``summary()``."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data: every field except ``model``; enums as values, nested results as dicts."""
        return {
            f.name: _plain(getattr(self, f.name))
            for f in dataclasses.fields(self)  # type: ignore[arg-type]
            if f.name != "model"
        }

    def summary(self) -> str:
        """One line for logs and the CLI."""
        return ", ".join(f"{k}={v}" for k, v in self.to_dict().items() if not isinstance(v, list | dict))


def unwrap_model(obj: Any) -> Any:
    """``obj.model`` when ``obj`` is a result that carries a model, else ``obj`` unchanged."""
    model = getattr(obj, "model", None) if isinstance(obj, VerbResult) else None
    return obj if model is None else model
