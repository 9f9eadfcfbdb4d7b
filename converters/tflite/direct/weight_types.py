"""Weight-only schemes of a float model, as TFLite's own converter writes them.

* ``float16``: every float32 constant of at least ``FLOAT16_MIN_ELEMENTS`` values is stored as float16
  and read through a DEQUANTIZE (version 3, float16 -> float32) at the start of the graph; LiteRT and
  XNNPACK fold these at load, so the file is half the size and computes in float32.
* ``dynamic_int8``: the weights of CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED with at least
  ``HYBRID_MIN_ELEMENTS`` values become int8, symmetric, per output channel; the op stays float and
  LiteRT runs its hybrid kernel (activations quantized on the fly per batch row; FULLY_CONNECTED with
  ``asymmetric_quantize_inputs`` as TFLite's converter sets it). Smaller weights stay float32, as in
  TFLite's converter (their hybrid kernels cost more than they save).
"""

from __future__ import annotations

import numpy as np

from edgekit.converters.tflite.direct.ir import Graph, Operator, Quant, Tensor
from edgekit.errors import ConversionError

FLOAT16_MIN_ELEMENTS = 16
HYBRID_MIN_ELEMENTS = 1024
#: Hybrid builtins: weight input index, output-channel axis of the weight, op version for a hybrid
#: per-channel kernel (tensorflow/lite/tools/versioning/op_version.cc).
HYBRID = {
    "CONV_2D": (1, 0, 5),
    "DEPTHWISE_CONV_2D": (1, 3, 6),
    "FULLY_CONNECTED": (1, 0, 12),
}
SCHEMES = ("float16", "dynamic_int8")


def _float16(graph: Graph, notes: list[str]) -> None:
    halves: dict[int, Tensor] = {}
    dequantize: list[Operator] = []
    for op in graph.operators:
        for i, t in enumerate(op.inputs):
            if t is None or t.data is None or t.np_dtype != np.float32 or t.data.size < FLOAT16_MIN_ELEMENTS:
                continue
            if id(t) not in halves:
                half = graph.const(t.data.astype(np.float16))
                out = graph.tensor(t.shape, np.float32, name=f"{t.name}_dequantized")
                dequantize.append(Operator("DEQUANTIZE", [half], [out], version=3))
                halves[id(t)] = out
            op.inputs[i] = halves[id(t)]
    graph.operators[:0] = dequantize
    notes.append(f"float16: {len(dequantize)} weight tensors stored as float16 (DEQUANTIZE to float32)")


def _int8_per_channel(data: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    others = tuple(d for d in range(data.ndim) if d != axis)
    bound = np.abs(data.astype(np.float64)).max(axis=others)
    scale = np.where(bound > 0, bound / 127.0, 1.0)
    shape = [1] * data.ndim
    shape[axis] = -1
    q = np.clip(np.rint(data / scale.reshape(shape)), -127, 127).astype(np.int8)
    return q, scale.astype(np.float32)


def _dynamic_int8(graph: Graph, notes: list[str]) -> None:
    done: dict[int, Tensor] = {}
    hybrid = 0
    for op in graph.operators:
        if op.code not in HYBRID:
            continue
        index, axis, version = HYBRID[op.code]
        w = op.inputs[index]
        if w is None or w.data is None or w.np_dtype != np.float32 or w.data.size < HYBRID_MIN_ELEMENTS:
            continue
        if id(w) not in done:
            q, scale = _int8_per_channel(w.data, axis)
            new = graph.const(q)
            new.quant = Quant(scale, np.zeros(scale.size, np.int64), axis)
            done[id(w)] = new
        op.inputs[index] = done[id(w)]
        op.version = max(op.version, version)
        if op.code == "FULLY_CONNECTED":
            op.fields["asymmetricQuantizeInputs"] = True
        hybrid += 1
    notes.append(
        f"dynamic_int8: {hybrid} ops run TFLite's hybrid kernels (int8 weights per channel, float activations)"
    )


def set_weight_types(graph: Graph, scheme: str, notes: list[str]) -> None:
    """Give the constants of the float ``graph`` the weight types of ``scheme`` (in place).

    >>> from edgekit.converters.tflite.direct.ir import Graph
    >>> g, notes = Graph(), []
    >>> set_weight_types(g, "float16", notes); notes
    ['float16: 0 weight tensors stored as float16 (DEQUANTIZE to float32)']
    """
    if scheme == "float16":
        _float16(graph, notes)
    elif scheme == "dynamic_int8":
        _dynamic_int8(graph, notes)
    else:
        raise ConversionError(f"weights must be one of {', '.join(SCHEMES)}; got {scheme!r}")
