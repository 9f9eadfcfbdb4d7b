"""The edgekit model-metadata contract shared by the converters (writer) and the runtime (reader).

A file written by edgekit carries one JSON document under the key :data:`METADATA_KEY`:

* TFLite: an entry of the flatbuffer ``Model.metadata`` list named ``METADATA_KEY`` whose buffer holds
  the UTF-8 JSON (written by ``edgekit.converters.tflite.metadata``).
* ONNX: ``model.metadata_props`` entry with key ``METADATA_KEY``.

It tells the runtime how the user's (PyTorch) tensors map onto the file's tensors, so that
``edgekit.runtime.Model`` takes NCHW arrays for a file whose input is NHWC without the user knowing.

``to_file_perm`` is the permutation that turns a source-layout array into the file's layout
(``file = source.transpose(to_file_perm)``); ``None`` means identical layouts. Outputs use the same
field: the runtime applies the inverse permutation to give back source layout.

This module is pure Python + json: the runtime reads it on devices without torch or tensorflow.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

METADATA_KEY = "edgekit"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class TensorLayout:
    """How one user-facing tensor maps onto a file tensor."""

    name: str
    source_shape: tuple[int | None, ...]
    source_layout: str | None = None  # e.g. "NCHW"; None when not an image tensor
    file_layout: str | None = None  # e.g. "NHWC"
    to_file_perm: tuple[int, ...] | None = None

    def from_file_perm(self) -> tuple[int, ...] | None:
        """Inverse of :attr:`to_file_perm` (file layout -> source layout)."""
        if self.to_file_perm is None:
            return None
        inverse = [0] * len(self.to_file_perm)
        for i, p in enumerate(self.to_file_perm):
            inverse[p] = i
        return tuple(inverse)


@dataclass(frozen=True)
class ModelMetadata:
    """Everything edgekit records about a converted file."""

    inputs: tuple[TensorLayout, ...]
    outputs: tuple[TensorLayout, ...]
    producer: str = "edgekit"
    quantized: bool = False
    #: free-form facts: source framework, opset, normalisation (mean/std) if known, class names, ...
    extra: dict[str, Any] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> ModelMetadata:
        raw = json.loads(text)

        def tensor(d: dict[str, Any]) -> TensorLayout:
            perm = d.get("to_file_perm")
            return TensorLayout(
                name=d["name"],
                source_shape=tuple(d.get("source_shape") or ()),
                source_layout=d.get("source_layout"),
                file_layout=d.get("file_layout"),
                to_file_perm=tuple(perm) if perm is not None else None,
            )

        return cls(
            inputs=tuple(tensor(t) for t in raw.get("inputs", ())),
            outputs=tuple(tensor(t) for t in raw.get("outputs", ())),
            producer=raw.get("producer", "edgekit"),
            quantized=bool(raw.get("quantized", False)),
            extra=dict(raw.get("extra", {})),
            format_version=int(raw.get("format_version", FORMAT_VERSION)),
        )
