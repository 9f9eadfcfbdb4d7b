"""Full-integer int8 from a QDQ model: the ONNX scales and zero points go into the tensors as they are.

Runs after the fusion passes, on a float graph whose QuantizeLinear nodes are marks (``QUANT_MARK``):

1. each mark's parameters go onto the tensor it reads (the producer writes int8 directly; a graph input
   becomes an int8 input); a tensor marked twice with different parameters gets a QUANTIZE (requantize);
2. ops that TFLite runs with equal input and output scales (RESHAPE, TRANSPOSE, MAX_POOL_2D, PAD,
   CONCATENATION, GATHER, ...) pass parameters backwards to an unmarked input and forwards to an unmarked
   output; where the ONNX scales differ the writer inserts a QUANTIZE and says so in the notes;
   LOGISTIC / SOFTMAX / TANH outputs get TFLite's fixed scales (a QUANTIZE to the ONNX one if it differs),
   except an unmarked one that is only returned (a detector's scores): it stays float;
   an unmarked input of ``MUL(x, c)`` (a positive scalar constant, e.g. HardSigmoid's 1/6) takes the
   output's zero point and ``scale / c``;
3. constants: weights become int8 with their scales, biases of CONV_2D / DEPTHWISE_CONV_2D /
   FULLY_CONNECTED int32 with scale ``s_in * s_w[c]`` and zero point 0, other float constants read by
   int8 ops int8 per tensor (range including 0), or with the output's parameters for same-scale ops
   (PADV2's pad value);
4. every tensor with parameters becomes int8.

Ops the quantized model left float (no QuantizeLinear on their outputs) run in float between a
DEQUANTIZE and a QUANTIZE, named in the notes; a CONV_2D / FULLY_CONNECTED left float is an error naming it.

16x8 models (int16 QuantizeLinear from ``QuantConfig(scheme="int16x8")``) take the same path: the marks
carry int16 (zero point 0), fixed output ranges are TFLite's int16 ones, biases of int16-input
CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED / TRANSPOSE_CONV become int64, and an op whose LiteRT kernel
has no int16 version is an error naming it (never a silent float island).
"""

from __future__ import annotations

import numpy as np

from edgekit.converters.tflite.direct.emitter import QUANT_MARK
from edgekit.converters.tflite.direct.ir import Graph, Operator, Quant, Tensor, same_quant
from edgekit.converters.tflite.direct.rescale import check_rescales
from edgekit.errors import ConversionError

#: Ops whose int8 kernels need (or whose output simply takes) the input's scale and zero point.
SAME_SCALE = frozenset(
    {
        "RESHAPE",
        "SQUEEZE",
        "TRANSPOSE",
        "MAX_POOL_2D",
        "PAD",
        "PADV2",
        "GATHER",
        "GATHER_ND",
        "STRIDED_SLICE",
        "SPLIT",
        "SPLIT_V",
        "CONCATENATION",
        "TILE",
        "BROADCAST_TO",
        "RESIZE_NEAREST_NEIGHBOR",
        "REDUCE_MAX",
        "REDUCE_MIN",
        "RELU",
        "RELU6",
        "AVERAGE_POOL_2D",
        "RESIZE_BILINEAR",
    }
)
#: Ops whose int8 kernel copies the chosen input's values: constant inputs take the output's parameters.
SELECT = frozenset({"SELECT", "SELECT_V2"})
#: Ops that keep any input scale but whose output may take it when ONNX gives none.
FOLLOWS_INPUT = frozenset({"MEAN", "SUM"})
FIXED_OUTPUT = {"LOGISTIC": (1 / 256, -128), "SOFTMAX": (1 / 256, -128), "TANH": (1 / 128, 0)}
FIXED_OUTPUT_INT16 = {"LOGISTIC": (1 / 32768, 0), "SOFTMAX": (1 / 32768, 0), "TANH": (1 / 32768, 0)}
_WEIGHTED = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV")
#: Builtins with an int8 kernel in TFLite's reference op set (LiteRT 2.x). Any other op that reads or
#: writes quantized tensors (SIN, SQUARE, DIV, POW, FLOOR, ...) runs in float between DEQUANTIZE and
#: QUANTIZE with a note, instead of a file LiteRT refuses to load ("Type INT8 is unsupported by op").
INT8_KERNELS = frozenset(
    {
        *SAME_SCALE,
        *FOLLOWS_INPUT,
        *FIXED_OUTPUT,
        *_WEIGHTED,
        "ADD",
        "SUB",
        "MUL",
        "QUANTIZE",
        "DEQUANTIZE",
        "SLICE",
        "PACK",
        "UNPACK",
        "EXPAND_DIMS",
        "REDUCE_PROD",
        "RELU_N1_TO_1",
        "LEAKY_RELU",
        "PRELU",
        "ELU",
        "HARD_SWISH",
        "GELU",
        "BATCH_MATMUL",
        "MAXIMUM",
        "MINIMUM",
        "ARG_MAX",
        "ARG_MIN",
        "SPACE_TO_DEPTH",
        "DEPTH_TO_SPACE",
        "BATCH_TO_SPACE_ND",
        "SPACE_TO_BATCH_ND",
        "SQUARED_DIFFERENCE",
        "RSQRT",
        "ABS",
        "NEG",
        "LOG_SOFTMAX",
        "L2_NORMALIZATION",
        "EQUAL",
        "NOT_EQUAL",
        "LESS",
        "LESS_EQUAL",
        "GREATER",
        "GREATER_EQUAL",
        "SELECT",
        "SELECT_V2",
        "MIRROR_PAD",
    }
)
#: Builtins with an int16-activation (16x8) kernel in LiteRT, each checked by running a single int16 QDQ
#: node in ai-edge-litert (``tests/converters/test_int16_kernels.py``); SQUARE, for one, has none.
INT16_KERNELS = frozenset(
    {
        "ADD",
        "SUB",
        "MUL",
        "CONV_2D",
        "DEPTHWISE_CONV_2D",
        "FULLY_CONNECTED",
        "TRANSPOSE_CONV",
        "AVERAGE_POOL_2D",
        "MAX_POOL_2D",
        "MEAN",
        "SUM",
        "REDUCE_MAX",
        "REDUCE_MIN",
        "CONCATENATION",
        "RESHAPE",
        "SQUEEZE",
        "TRANSPOSE",
        "PAD",
        "PADV2",
        "STRIDED_SLICE",
        "SLICE",
        "SPLIT",
        "SPLIT_V",
        "GATHER",
        "PACK",
        "UNPACK",
        "RESIZE_BILINEAR",
        "RESIZE_NEAREST_NEIGHBOR",
        "LOGISTIC",
        "TANH",
        "SOFTMAX",
        "RELU",
        "RELU6",
        "LEAKY_RELU",
        "MAXIMUM",
        "MINIMUM",
        "BATCH_MATMUL",
        "QUANTIZE",
        "DEQUANTIZE",
        "EXP",
        "SQRT",
        "ABS",
        "NEG",
        "GELU",
    }
)
#: Why LayerNorm is a float island by default, and the switch (measured: ``benchmarks/layer_norm.py``).
LAYER_NORM_HINT = (
    "; LayerNorm stays float by default because int8 LayerNorm loses accuracy on wide residual streams "
    "(ViT/DeiT); QuantConfig(layer_norm='int8') quantizes its MEAN/SUB/MUL/RSQRT lowering op by op"
)
_LIMITS = {np.dtype(np.int8): (-128, 127), np.dtype(np.int16): (-32768, 32767)}


def _fixed(code: str, dtype: np.dtype) -> Quant:
    scale, zp = (FIXED_OUTPUT_INT16 if dtype == np.int16 else FIXED_OUTPUT)[code]
    return Quant(np.asarray([scale], np.float32), np.asarray([zp], np.int64), dtype=dtype)


def _activations(op: Operator) -> list[Tensor]:
    return [t for t in op.inputs if t is not None and not t.is_const and t.np_dtype == np.float32]


_INT32_MAX = 2**31 - 1


def _requantize(graph: Graph, op: Operator, index: int, quant: Quant, notes: list[str], why: str) -> None:
    """Feed ``op.inputs[index]`` through a QUANTIZE to ``quant``."""
    source = op.inputs[index]
    assert source is not None
    out = graph.tensor(source.shape, source.np_dtype, quant=quant)
    graph.operators.insert(graph.operators.index(op), Operator("QUANTIZE", [source], [out]))
    op.inputs[index] = out
    notes.append(
        f"int8: {op.code} reading {source.name} needs scale {float(quant.scale[0]):.6g} / zero point "
        f"{int(quant.zero_point[0])} ({why}); inserted a requantize"
    )


def _absorb_marks(graph: Graph, notes: list[str]) -> None:
    replace: dict[int, Tensor] = {}
    producers = graph.producers()
    for op in list(graph.operators):
        if op.code != QUANT_MARK:
            continue
        source = op.inputs[0]
        assert source is not None
        source = replace.get(id(source), source)
        out = op.outputs[0]
        if source.is_const:
            # a value that folded to a constant only here (BERT's token-type embedding, gathered with ids
            # built from the static input shape): its own QuantizeLinear parameters, stored int8 by
            # ``_constants`` as ONNX Runtime rounds it
            folded = graph.const(source.data)
            folded.quant = out.quant
            replace[id(out)] = folded
            graph.operators.remove(op)
            continue
        if source.quant is None or same_quant(source.quant, out.quant):
            source.quant = out.quant
            replace[id(out)] = source
            graph.operators.remove(op)
        else:
            op.code, op.inputs = "QUANTIZE", [source]
            producer = producers.get(id(op.inputs[0]))
            where = producer.origin if producer is not None and producer.origin else f"tensor {source.name}"
            scales = (float(np.asarray(q.scale).reshape(-1)[0]) for q in (source.quant, out.quant) if q)
            notes.append(
                f"int8: {where}: the quantized model rounds this value twice (two QuantizeLinear in a row, "
                f"scales {' and '.join(f'{x:.6g}' for x in scales)}); written as a requantize (QUANTIZE "
                "int8 -> int8), as PyTorch-int8 computes it; give both the same observer to save it"
            )
    for op in graph.operators:
        op.inputs = [replace.get(id(t), t) if t is not None else None for t in op.inputs]
    graph.outputs = [replace.get(id(t), t) for t in graph.outputs]


def _scalar_factor(op: Operator) -> tuple[Tensor, float] | None:
    """``(x, c)`` when ``op`` is ``MUL(x, c)`` with a positive scalar constant ``c`` and no fused activation."""
    if op.code != "MUL" or op.fields.get("fusedActivationFunction", 0) != 0 or len(op.inputs) != 2:
        return None
    consts = [t for t in op.inputs if t is not None and t.is_const and t.data is not None]
    others = [t for t in op.inputs if t is not None and not t.is_const]
    if len(consts) != 1 or len(others) != 1 or np.asarray(consts[0].data).size != 1:
        return None
    c = float(np.asarray(consts[0].data).reshape(-1)[0])
    return (others[0], c) if c > 0 else None


def _only_returned(graph: Graph, tensor: Tensor, readers: dict[int, list[Operator]]) -> bool:
    """True when ``tensor`` reaches nothing but the graph's outputs, through same-scale ops only (a
    detector's scores after their sigmoid / softmax, reshaped or transposed): left unmarked, it stays
    float, as the quantized model computes it, instead of taking the fixed 1/256 scale."""
    while True:
        users = readers.get(id(tensor), [])
        if not users:
            return any(t is tensor for t in graph.outputs)
        if len(users) != 1 or users[0].code not in SAME_SCALE or any(t is tensor for t in graph.outputs):
            return False
        tensor = users[0].outputs[0]


def _propagate(graph: Graph) -> None:
    readers = graph.consumers()
    for op in reversed(graph.operators):
        out = op.outputs[0]
        factor = _scalar_factor(op)
        if factor is not None and out.quant is not None and out.quant.scale.size == 1:
            # x * c (HardSigmoid's final 1/6): x takes the output's zero point and scale / c, so the
            # int8 MUL only rescales, and the op before it (ADD +3 with fused RELU6) runs int8 too
            x, c = factor
            if x.quant is None and len(readers.get(id(x), [])) == 1:
                x.quant = Quant(
                    (out.quant.scale / np.float32(c)).astype(np.float32),
                    out.quant.zero_point.copy(),
                    dtype=out.quant.dtype,  # int16 in a 16x8 model: MUL needs both inputs of one type
                )
            continue
        if op.code == "CONCATENATION" and out.quant is not None:
            # an input read only here (a grouped convolution's per-group CONV_2D) writes at the
            # concatenation's scale, as TFLite's int8 kernel needs
            for piece in _activations(op):
                if piece.quant is None and len(readers.get(id(piece), [])) == 1:
                    piece.quant = out.quant
            continue
        if op.code in SAME_SCALE and out.quant is not None:
            source = op.inputs[0] if op.code not in ("SPLIT",) else op.inputs[1]
            if (
                source is not None
                and not source.is_const
                and source.quant is None
                and len(readers.get(id(source), [])) == 1
            ):
                source.quant = out.quant
    for op in graph.operators:
        for out in op.outputs:
            if out.quant is not None or out.np_dtype != np.float32:
                continue
            sources = [t for t in _activations(op) if t.quant is not None]
            if sources and (op.code in SAME_SCALE or op.code in FOLLOWS_INPUT):
                out.quant = sources[0].quant
            elif op.code in FIXED_OUTPUT and sources and not _only_returned(graph, out, readers):
                out.quant = _fixed(op.code, sources[0].quant.dtype)  # type: ignore[union-attr]


_FUSED_RELU = {"RELU": 1, "RELU6": 3}
_TAKES_RELU = frozenset({"ADD", "SUB", "MUL", "CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"})


def _fuse_rescaling_relu(graph: Graph) -> None:
    """A RELU / RELU6 observed at another scale than its producer's output (PyTorch observes an ``add``
    and the ``relu`` after it apart: MobileOne's branch sum) becomes the producer's fused activation,
    writing at the RELU's scale: one rounding instead of a requantize after the RELU."""
    producers = graph.producers()
    consumers = graph.consumers()
    for relu in list(graph.operators):
        x = relu.inputs[0] if relu.code in _FUSED_RELU else None
        producer = producers.get(id(x)) if x is not None else None
        out = relu.outputs[0]
        if x is None or producer is None or producer.code not in _TAKES_RELU:
            continue
        if x.quant is None or out.quant is None or same_quant(x.quant, out.quant):
            continue
        if producer.fields.get("fusedActivationFunction", 0) or len(consumers.get(id(x), [])) != 1:
            continue
        if any(x is t for t in graph.outputs):
            continue
        producer.outputs[0] = out
        producer.fields["fusedActivationFunction"] = _FUSED_RELU[relu.code]
        graph.operators.remove(relu)


def _enforce(graph: Graph, notes: list[str]) -> None:
    for op in list(graph.operators):
        out = op.outputs[0]
        if op.code in FIXED_OUTPUT and out.quant is not None:
            fixed = _fixed(op.code, out.quant.dtype)
            scale = float(fixed.scale[0])
            if not same_quant(out.quant, fixed):
                wanted = out.quant
                inner = graph.tensor(out.shape, out.np_dtype, quant=fixed)
                op.outputs[0] = inner
                position = graph.operators.index(op) + 1
                graph.operators.insert(position, Operator("QUANTIZE", [inner], [out]))
                out.quant = wanted
                notes.append(
                    f"{wanted.dtype}: {op.code} output has TFLite's fixed scale {scale:.6g}; requantized to "
                    "ONNX's"
                )
        if op.code not in SAME_SCALE or out.quant is None:
            continue
        shared: Quant = out.quant
        sources = [t for t in _activations(op) if t.quant is not None]
        if len(sources) == 1 and op.code != "CONCATENATION" and not same_quant(sources[0].quant, out.quant):
            # one input: compute at its scale and requantize the result (requantizing the input to the
            # output's narrower range would clip it before an average / resize / pool)
            wanted = out.quant
            inner = graph.tensor(out.shape, out.np_dtype, quant=sources[0].quant)
            op.outputs[0] = inner
            graph.operators.insert(graph.operators.index(op) + 1, Operator("QUANTIZE", [inner], [out]))
            notes.append(
                f"{wanted.dtype}: {op.code} writing {out.name} needs its input's scale (TFLite's kernel does not "
                "rescale); inserted a requantize after it"
            )
            out, shared = inner, sources[0].quant  # type: ignore[assignment]
        for j, other in enumerate(op.outputs[1:], start=1):  # SPLIT / SPLIT_V: every output, one scale
            if other.quant is not None and not same_quant(other.quant, shared):
                inner = graph.tensor(other.shape, other.np_dtype, quant=shared)
                op.outputs[j] = inner
                graph.operators.insert(graph.operators.index(op) + 1, Operator("QUANTIZE", [inner], [other]))
                notes.append(
                    f"{shared.dtype}: {op.code} output {other.name} has its own scale; TFLite's kernel writes "
                    "every output at the input's scale, so it is requantized"
                )
        for i, t in enumerate(op.inputs):
            if (
                t is not None
                and not t.is_const
                and t.np_dtype == np.float32
                and not same_quant(t.quant, shared)
            ):
                if t.quant is None:
                    continue
                _requantize(
                    graph, op, i, shared, notes, "TFLite's kernel needs equal input and output scales"
                )


def _float_islands(graph: Graph, notes: list[str]) -> None:
    """Ops the quantized model left in float between quantized tensors (a DequantizeLinear before them,
    a QuantizeLinear after, nothing inside: LayerNorm, GELU, attention MatMuls the quantizer does not
    annotate, a MatMul whose weight was never quantized), and quantized ops TFLite has no int8 kernel for
    (``INT8_KERNELS``; ``INT16_KERNELS`` in a 16x8 model), run in float as they do in PyTorch: DEQUANTIZE
    before, QUANTIZE after, each ONNX node named in the notes. A CONV_2D / FULLY_CONNECTED with an int8
    weight but float activations is an error."""
    dequantized: dict[int, Tensor] = {}
    islands: dict[str, set[str]] = {}
    first_quantized: dict[str, set[str]] = {}  # float ops on values no int8 op wrote, before a QUANTIZE
    from_int8: set[int] = set()  # float tensors computed from dequantized ones (inside an island)
    returned: dict[str, set[str]] = {}  # float by design: a returned sigmoid / softmax and what follows it
    readers = graph.consumers()
    for op in list(graph.operators):
        if op.code in ("QUANTIZE", "DEQUANTIZE"):
            continue
        outputs = [t for t in op.outputs if t.np_dtype == np.float32]
        weight = op.inputs[1] if op.code in _WEIGHTED and len(op.inputs) > 1 else None
        float_weight = weight is not None and weight.is_const and weight.quant is None
        activations = [*_activations(op), *outputs]
        quantized = [t.quant for t in activations if t.quant is not None]
        kernels = INT16_KERNELS if any(q.dtype == np.int16 for q in quantized) else INT8_KERNELS
        no_kernel = op.code not in kernels and bool(quantized)
        if not float_weight and not no_kernel and all(t.quant is not None for t in activations):
            continue
        after_int8 = any(t.quant is not None or id(t) in from_int8 for t in _activations(op))
        if not quantized and not after_int8 and op.code not in _WEIGHTED:
            continue  # float values no int8 op wrote, read by no int8 op (an integer input cast to float)
        if op.code in _WEIGHTED and not float_weight:
            where = f" (from {op.origin})" if op.origin else ""
            raise ConversionError(
                f"tensor {op.outputs[0].name!r} ({op.code}{where}) of the int8 model has no quantization "
                "parameters: TFLite cannot mix it with int8 tensors; give it a QuantizeLinear / "
                "DequantizeLinear pair (quantize that op) or export the model as float"
            )
        by_design = bool(outputs) and all(
            out.quant is None and _only_returned(graph, out, readers) for out in outputs
        )
        for i, t in enumerate(op.inputs):
            if t is None or t.np_dtype != np.float32 or t.quant is None:
                continue
            if t.is_const:  # a weight read by a float op stays float
                op.inputs[i] = graph.const(t.data)
                continue
            if id(t) not in dequantized:
                dequantized[id(t)] = graph.tensor(t.shape, np.float32)
                graph.operators.insert(
                    graph.operators.index(op), Operator("DEQUANTIZE", [t], [dequantized[id(t)]])
                )
            op.inputs[i] = dequantized[id(t)]
        for j, out in enumerate(op.outputs):
            if out.np_dtype == np.float32 and out.quant is not None:
                op.outputs[j] = graph.tensor(out.shape, np.float32)
                graph.operators.insert(
                    graph.operators.index(op) + 1, Operator("QUANTIZE", [op.outputs[j]], [out])
                )
        if after_int8 or op.code in _WEIGHTED:
            from_int8.update(id(t) for t in op.outputs if t.np_dtype == np.float32 and t.quant is None)
        kind = returned if by_design else islands if after_int8 or op.code in _WEIGHTED else first_quantized
        kind.setdefault(op.origin or "(no ONNX node)", set()).add(op.code)
    for origin, codes in first_quantized.items():
        notes.append(
            f"int8: {origin} computes in float ({', '.join(sorted(codes))}) from values no int8 op wrote (an "
            "integer input cast to float, an attention mask); a QUANTIZE after it starts the int8 path"
        )
    for origin, codes in returned.items():
        notes.append(
            f"int8: {origin} ({', '.join(sorted(codes))}) computes a returned value in float from the int8 "
            "input before it (an int8 sigmoid / softmax output would round it to TFLite's fixed 1/256 scale)"
        )
    for origin, codes in islands.items():
        notes.append(
            f"int8: {origin} runs in float ({', '.join(sorted(codes))}): TFLite has no int8 kernel for it, "
            "or the quantized model left it float; DEQUANTIZE / QUANTIZE inserted around it (keep it out of "
            "the int8 path, or replace the op, to avoid the conversions)"
            + (LAYER_NORM_HINT if origin.startswith("ONNX LayerNormalization") else "")
        )


def _quantize_data(t: Tensor, narrow: bool) -> None:
    assert t.data is not None and t.quant is not None
    scale = t.quant.scale.astype(np.float64)
    zp = t.quant.zero_point
    shape = [1] * t.data.ndim
    if scale.size > 1:
        shape[t.quant.axis] = -1
    q = np.rint(t.data.astype(np.float64) / scale.reshape(shape)) + zp.reshape(shape)
    low, high = _LIMITS[t.quant.dtype]
    t.data = np.clip(q, low + 1 if narrow else low, high).astype(t.quant.dtype)
    t.np_dtype = t.quant.dtype


def _per_tensor(t: Tensor, dtype: np.dtype) -> None:
    data = np.asarray(t.data, np.float64)
    low, high = min(float(data.min()), 0.0), max(float(data.max()), 0.0)
    if dtype == np.int16:  # 16x8: symmetric, zero point 0
        bound = max(-low, high)
        scale, zp = (bound / 32767 if bound > 0 else 1.0), 0
    else:
        scale = (high - low) / 255 if high > low else 1.0
        zp = int(np.clip(np.rint(-128 - low / scale), -128, 127))
    t.quant = Quant(np.asarray([scale], np.float32), np.asarray([zp], np.int64), dtype=dtype)
    _quantize_data(t, narrow=False)


def _fit_bias(x: Tensor, w: Tensor, bias: Tensor, shared: bool, notes: list[str]) -> None:
    """Widen the weight scale of the output channels whose int32 bias (``bias / (input scale x weight
    scale)``) would overflow: a channel with all-zero weights gets PT2E's smallest scale (~1e-7), and then
    a bias of a few units is out of int32 range. The channel's weights are re-rounded to the wider scale
    (exact for zero weights) and the change is named in the notes."""
    assert x.quant is not None and w.quant is not None and bias.data is not None
    x_scale = float(x.quant.scale.astype(np.float64).max())
    needed = np.abs(bias.data.astype(np.float64)) / (x_scale * (_INT32_MAX - 1))
    w_scale = np.broadcast_to(w.quant.scale.astype(np.float64), needed.shape)
    over = needed > w_scale
    channels = np.flatnonzero(over)
    if not channels.size:
        return
    if shared or w.np_dtype != np.float32 or w.quant.scale.size != needed.size:
        raise ConversionError(
            f"the int32 bias {bias.name!r} overflows with weight {w.name!r}'s scale on channels "
            f"{channels.tolist()[:8]}, and that weight's scale cannot be widened here (shared, "
            "already integer, or per-tensor): re-calibrate, or remove the dead channels (ek.prune) first"
        )
    zero = not np.take(np.asarray(w.data), channels, w.quant.axis).any()
    w.quant.scale = np.where(over, needed * (1 + 1e-6), w_scale).astype(np.float32)
    notes.append(
        f"weight {w.name!r}: the scale of channels {channels.tolist()[:8]} was widened so that the int32 "
        f"bias fits (their weights are {'all zero' if zero else 'tiny'})"
    )


def _constants(graph: Graph, notes: list[str]) -> None:
    done: set[int] = set()
    for op in graph.operators:
        if op.code in _WEIGHTED and op.outputs[0].quant is not None:
            x_index, w_index = (2, 1) if op.code == "TRANSPOSE_CONV" else (0, 1)
            x, w = op.inputs[x_index], op.inputs[w_index]
            if x is None or x.quant is None or w is None or w.quant is None:
                raise ConversionError(
                    f"{op.code} writing {op.outputs[0].name!r} has a float input or weight in an int8 model: "
                    "quantize its input and weight (QuantizeLinear / DequantizeLinear) or export it as float"
                )
            bias_index = 3 if op.code == "TRANSPOSE_CONV" else 2
            bias = op.inputs[bias_index] if len(op.inputs) > bias_index else None
            if bias is not None and bias.np_dtype == np.float32 and x.quant.dtype != np.int16:
                _fit_bias(x, w, bias, id(w) in done, notes)
            if id(w) not in done and w.np_dtype == np.float32:
                _quantize_data(w, narrow=True)
                done.add(id(w))
            if bias is not None and bias.np_dtype == np.float32:
                scale = (x.quant.scale.astype(np.float64) * w.quant.scale.astype(np.float64)).astype(
                    np.float32
                )
                scale = (
                    np.broadcast_to(scale, (bias.shape[0],))
                    if scale.size == 1 and w.quant.scale.size > 1
                    else scale
                )
                q = np.rint(bias.data.astype(np.float64) / scale.astype(np.float64))  # type: ignore[union-attr]
                bias_type = np.int64 if x.quant.dtype == np.int16 else np.int32  # 16x8: int64 bias
                new = graph.const(q.astype(bias_type), bias_type)
                new.quant = Quant(scale.reshape(-1), np.zeros(scale.size, np.int64), 0)
                op.inputs[bias_index] = new
            continue
        quantized = [t.quant for t in _activations(op) if t.quant is not None]
        copies_values = op.code in SAME_SCALE or op.code in SELECT
        if not quantized and copies_values and op.outputs[0].quant is not None:
            # GATHER from a float table (an embedding) by integer ids; SELECT_V2 of two constants by a
            # boolean mask (an attention mask made additive)
            quantized = [op.outputs[0].quant]
        if not quantized:
            continue
        dtype = quantized[0].dtype
        for i, t in enumerate(op.inputs):
            if t is None or not t.is_const or t.np_dtype != np.float32:
                continue
            copy = graph.const(t.data)
            if t.quant is not None:  # weights: symmetric, narrow; an activation's own parameters: full range
                copy.quant = t.quant
                _quantize_data(copy, narrow=not np.any(t.quant.zero_point))
            elif copies_values and op.outputs[0].quant is not None:
                # e.g. PADV2's pad value (a max pool's -inf padding), SELECT_V2's values (the kernel
                # copies them): the output's scale, clipped to int8
                copy.quant = op.outputs[0].quant
                _quantize_data(copy, narrow=False)
            else:
                _per_tensor(copy, dtype)
            op.inputs[i] = copy


def _check_and_cast(graph: Graph) -> None:
    for op in graph.operators:
        for t in [*op.inputs, *op.outputs]:
            if t is None or t.is_const or t.np_dtype != np.float32 or t.quant is None:
                continue
            where = f"{op.code} tensor {t.name!r}" + (f" (from {op.origin})" if op.origin else "")
            if not (np.all(np.isfinite(t.quant.scale)) and np.all(t.quant.scale > 0)):
                raise ConversionError(
                    f"{where} has scale {t.quant.scale.tolist()}: TFLite needs finite positive scales; "
                    "re-calibrate so that this tensor sees non-constant, finite values"
                )
            low, high = (0, 0) if t.quant.dtype == np.int16 else _LIMITS[t.quant.dtype]
            if np.any(t.quant.zero_point < low) or np.any(t.quant.zero_point > high):
                raise ConversionError(
                    f"{where} has zero point {t.quant.zero_point.tolist()}, outside {t.quant.dtype} "
                    f"[{low}, {high}] (TFLite's 16x8 spec needs zero point 0 for int16 activations)"
                )
            if t.quant.dtype == np.int16 and op.code not in INT16_KERNELS:
                raise ConversionError(
                    f"{op.code} on tensor {t.name!r}: LiteRT has no int16-activation (16x8) kernel for "
                    f"{op.code}; quantize this model with scheme 'int8', or keep that layer in float "
                    "(QuantConfig(keep_float=...))"
                )
    for t in {
        id(t): t for op in graph.operators for t in [*op.inputs, *op.outputs] if t is not None
    }.values():
        if not t.is_const and t.quant is not None and t.np_dtype == np.float32:
            t.np_dtype = t.quant.dtype
    for t in graph.inputs:
        if t.quant is not None:
            t.np_dtype = t.quant.dtype


def quantize(graph: Graph, notes: list[str]) -> bool:
    """Make the marked graph full-integer (int8, or 16x8) in place; False when there is nothing to
    quantize."""
    if not any(op.code == QUANT_MARK for op in graph.operators):
        return False
    _absorb_marks(graph, notes)
    _propagate(graph)
    _fuse_rescaling_relu(graph)
    _enforce(graph, notes)
    _float_islands(graph, notes)
    _constants(graph, notes)
    _check_and_cast(graph)
    check_rescales(graph, notes)
    return True
