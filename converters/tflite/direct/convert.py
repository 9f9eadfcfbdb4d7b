"""ONNX -> TFLite bytes with the direct writer: the op handlers drive an :class:`Emitter`, the passes fuse,
the serializer writes. No TensorFlow is imported on this path.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from edgekit.converters.tflite.builder import GraphTranslator
from edgekit.converters.tflite.direct.emitter import Emitter
from edgekit.converters.tflite.direct.ir import Graph
from edgekit.converters.tflite.direct.passes import drop_dead, merge_reshapes, optimize
from edgekit.converters.tflite.direct.quantize import quantize
from edgekit.converters.tflite.direct.serialize import EXTERNAL_THRESHOLD, Serialized, serialize
from edgekit.converters.tflite.direct.weight_types import set_weight_types

log = logging.getLogger(__name__)


@dataclass
class DirectResult:
    """The IR after the passes, the translator (inputs/outputs/notes) and where the time went."""

    graph: Graph
    translator: GraphTranslator
    timings: dict[str, float] = field(default_factory=dict)
    fusions: dict[str, int] = field(default_factory=dict)


def build_graph(
    model: Any, input_shapes: dict[str, tuple[int, ...]] | None = None, *, weights: str | None = None
) -> DirectResult:
    """Translate ``model`` (an ``onnx.ModelProto``) into the TFLite IR and run the fusion passes;
    ``weights`` (``"float16"`` / ``"dynamic_int8"``) sets the type of a float model's weights."""
    timings: dict[str, float] = {}
    start = time.perf_counter()
    translator = GraphTranslator(model, input_shapes)
    graph = Graph()
    emitter = Emitter(graph)
    for spec in translator.inputs:
        graph.inputs.append(graph.tensor(spec.file_shape, spec.dtype, name=spec.name))
    outputs = translator._run(emitter, tuple(graph.inputs))
    for spec, tensor in zip(translator.outputs, outputs, strict=True):
        tensor.name = spec.name
        graph.outputs.append(tensor)
    timings["layout"] = time.perf_counter() - start
    start = time.perf_counter()
    fusions = optimize(graph)
    if quantize(graph, translator.notes):  # the int8 flatten stays: per-layer parity compares it
        fusions["reshapes"] += merge_reshapes(graph)  # the quantization marks between them are gone now
        drop_dead(graph)
    if weights is not None:
        set_weight_types(graph, weights, translator.notes)
    timings["passes"] = time.perf_counter() - start
    log.debug("direct writer fusions: %s", fusions)
    return DirectResult(graph, translator, timings, fusions)


def write(
    result: DirectResult,
    metadata: dict[str, bytes],
    *,
    external_threshold: int = EXTERNAL_THRESHOLD,
) -> Serialized:
    """Serialize a built graph with its metadata entries."""
    start = time.perf_counter()
    data = serialize(
        result.graph,
        metadata=metadata,
        input_names=[s.name for s in result.translator.inputs],
        output_names=[s.name for s in result.translator.outputs],
        external_threshold=external_threshold,
    )
    result.timings["write"] = time.perf_counter() - start
    return data
