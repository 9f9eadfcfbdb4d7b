"""Graph passes over the IR: the fusions TF's MLIR converter used to do for us.

* :func:`fold_mul_into_conv`: a per-output-channel constant MUL after CONV_2D / DEPTHWISE_CONV_2D /
  FULLY_CONNECTED (BatchNormalization's scale) scales the weights and bias instead;
* :func:`fuse_bias`: a constant per-channel ADD (the conv bias, BatchNormalization's shift, a Gemm bias)
  goes into the producer's bias;
* :func:`fuse_activation`: RELU / RELU6 / RELU_N1_TO_1 become the producer's fused activation;
* :func:`fuse_hard_swish`: ``x * relu6(x + 3) * (1/6)`` (how the HardSwish handler spells it) becomes
  HARD_SWISH;
* :func:`fuse_rsqrt`: ``1 / sqrt(x)`` (how ONNX spells ``torch.rsqrt``: Reciprocal(Sqrt)) becomes RSQRT,
  which has an int8 kernel where SQRT and DIV have none (an int8 LayerNorm's normaliser);
* :func:`drop_reshape_before_fc`: a RESHAPE to ``[N, K]`` feeding FULLY_CONNECTED goes (the kernel
  flattens its input to ``[-1, K]`` itself), and so does one that regroups the leading axes of a
  ``keepNumDims`` FULLY_CONNECTED read only by RESHAPEs;
* :func:`transpose_as_reshape`: a TRANSPOSE that moves only size-1 axes is a RESHAPE (no data moves);
* :func:`transpose_into_batch_matmul`: a TRANSPOSE of the last two axes that reaches a BATCH_MATMUL
  (through RESHAPEs of the leading axes and scalar multiplies: attention's ``k.transpose(-2, -1) * scale``)
  becomes the matmul's ``adj_x`` / ``adj_y``;
* :func:`merge_reshapes`: a RESHAPE of a RESHAPE reads the first one's input;
* :func:`drop_dead`: operators whose outputs nobody reads.

A fusion only applies when the intermediate tensor has a single reader and is not a graph output, and
only to float tensors (quantized producers keep their scales as given); QDQ models are fused while their
activations are still float with quantization marks, before ``quantize`` makes them int8.
"""

from __future__ import annotations

import numpy as np

from edgekit.converters.tflite.direct.emitter import QUANT_MARK
from edgekit.converters.tflite.direct.ir import Graph, Operator, Tensor, same_quant

_WEIGHTED = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")
_FUSABLE_ACT = {"RELU": 1, "RELU_N1_TO_1": 2, "RELU6": 3}  # TANH: not every kernel takes it (FC)
_TAKES_ACT = (*_WEIGHTED, "ADD", "SUB", "MUL", "DIV", "AVERAGE_POOL_2D", "MAX_POOL_2D", "CONCATENATION")


def _sole_reader(graph: Graph, tensor: Tensor) -> Operator | None:
    if any(tensor is out for out in graph.outputs):
        return None
    readers = graph.consumers().get(id(tensor), [])
    return readers[0] if len(readers) == 1 else None


def _channel_vector(op: Operator, producer: Operator) -> np.ndarray | None:
    """The constant operand of a binary ``op`` as one value per output channel of ``producer``."""
    out = producer.outputs[0]
    other = next((t for t in op.inputs if t is not None and t is not out), None)
    if other is None or not other.is_const or other.quant is not None or op.inputs.count(out) != 1:
        return None
    channels = out.shape[-1]
    data = np.asarray(other.data)
    if data.size not in (1, channels) or data.ndim > len(out.shape):
        return None
    if data.size == channels and channels > 1 and data.shape[-1] != channels:
        return None
    return np.broadcast_to(data.reshape(-1).astype(np.float32), (channels,))


def _float_unfused(op: Operator, quantized_weight_ok: bool = False) -> bool:
    """A weighted op with a float output and no fused activation (and a float weight unless allowed:
    a bias stays float until ``quantize`` makes it int32 with the weight's scales)."""
    return (
        op.code in _WEIGHTED
        and op.outputs[0].quant is None
        and op.outputs[0].np_dtype == np.float32
        and op.fields.get("fusedActivationFunction", 0) == 0
        and op.inputs[1] is not None
        and (quantized_weight_ok or op.inputs[1].quant is None)
    )


def _bias_of(graph: Graph, op: Operator) -> np.ndarray:
    bias = op.inputs[2] if len(op.inputs) > 2 else None
    channels = op.outputs[0].shape[-1]
    return np.zeros(channels, np.float32) if bias is None else np.asarray(bias.data, np.float32)


def _replace_output(graph: Graph, op: Operator, absorbed: Operator) -> None:
    """``op`` now produces what ``absorbed`` produced; ``absorbed`` goes."""
    op.outputs = absorbed.outputs
    graph.operators.remove(absorbed)


def fold_mul_into_conv(graph: Graph) -> int:
    count = 0
    for op in list(graph.operators):
        if not _float_unfused(op) or op not in graph.operators:
            continue
        reader = _sole_reader(graph, op.outputs[0])
        if reader is None or reader.code != "MUL" or reader.fields.get("fusedActivationFunction", 0):
            continue
        scale = _channel_vector(reader, op)
        if scale is None or reader.outputs[0].shape != op.outputs[0].shape:
            continue
        weight = op.inputs[1]
        assert weight is not None and weight.data is not None
        axis = 3 if op.code == "DEPTHWISE_CONV_2D" else 0
        shape = [1] * weight.data.ndim
        shape[axis] = -1
        op.inputs[1] = graph.const((weight.data * scale.reshape(shape)).astype(np.float32))
        op.inputs[2] = graph.const(_bias_of(graph, op) * scale)
        _replace_output(graph, op, reader)
        count += 1
    return count


def fuse_bias(graph: Graph) -> int:
    count = 0
    for op in list(graph.operators):
        if not _float_unfused(op, quantized_weight_ok=True) or op not in graph.operators:
            continue
        reader = _sole_reader(graph, op.outputs[0])
        if (
            reader is None
            or reader.code not in ("ADD", "SUB")
            or reader.fields.get("fusedActivationFunction", 0)
        ):
            continue
        shift = _channel_vector(reader, op)
        if shift is None or reader.outputs[0].shape != op.outputs[0].shape:
            continue
        if reader.code == "SUB":
            if reader.inputs[0] is not op.outputs[0]:
                continue
            shift = -shift
        op.inputs[2] = graph.const(_bias_of(graph, op) + shift)
        _replace_output(graph, op, reader)
        count += 1
    return count


def fuse_activation(graph: Graph) -> int:
    count = 0
    for op in list(graph.operators):
        if (
            op.code not in _TAKES_ACT
            or op not in graph.operators
            or op.fields.get("fusedActivationFunction", 0)
        ):
            continue
        if op.code in ("ADD", "SUB", "MUL", "DIV") and op.outputs[0].np_dtype != np.float32:
            continue
        if op.code == "CONCATENATION" or op.outputs[0].quant is not None:
            continue  # the int8 writer sets output ranges that already clip
        reader = _sole_reader(graph, op.outputs[0])
        if reader is None or reader.code not in _FUSABLE_ACT:
            continue
        op.fields["fusedActivationFunction"] = _FUSABLE_ACT[reader.code]
        _replace_output(graph, op, reader)
        count += 1
    return count


def _scalar_operand(op: Operator, tensor: Tensor) -> float | None:
    other = [t for t in op.inputs if t is not tensor]
    if len(other) != 1 or other[0] is None or not other[0].is_const or other[0].data.size != 1:  # type: ignore[union-attr]
        return None
    return float(np.asarray(other[0].data).reshape(-1)[0])


def fuse_hard_swish(graph: Graph) -> int:
    count = 0
    for add in list(graph.operators):
        if add.code != "ADD" or add not in graph.operators or add.fields.get("fusedActivationFunction", 0):
            continue
        x = next((t for t in add.inputs if t is not None and not t.is_const), None)
        # x may carry quantization marks: HARD_SWISH reads it as it is (int8 in, int8 out)
        if x is None or x.np_dtype != np.float32 or _scalar_operand(add, x) != 3.0:
            continue
        relu6 = _sole_reader(graph, add.outputs[0])
        if relu6 is None or relu6.code != "RELU6":
            continue
        mul = _sole_reader(graph, relu6.outputs[0])
        if (
            mul is None
            or mul.code != "MUL"
            or x not in mul.inputs
            or mul.fields.get("fusedActivationFunction", 0)
        ):
            continue
        scale = _sole_reader(graph, mul.outputs[0])
        if scale is None or scale.code != "MUL" or scale.fields.get("fusedActivationFunction", 0):
            continue
        sixth = _scalar_operand(scale, mul.outputs[0])
        if sixth is None or abs(sixth - 1 / 6) > 1e-7 or scale.outputs[0].shape != x.shape:
            continue
        position = graph.operators.index(add)
        for op in (add, relu6, mul, scale):
            graph.operators.remove(op)
        graph.operators.insert(position, Operator("HARD_SWISH", [x], scale.outputs))
        count += 1
    return count


def fuse_rsqrt(graph: Graph) -> int:
    count = 0
    for sqrt in list(graph.operators):
        if sqrt.code != "SQRT" or sqrt.outputs[0].np_dtype != np.float32:
            continue
        div = _sole_reader(graph, sqrt.outputs[0])
        if div is None or div.code != "DIV" or div.fields.get("fusedActivationFunction", 0):
            continue
        one = div.inputs[0]
        if div.inputs[1] is not sqrt.outputs[0] or one is None or not one.is_const:
            continue
        if np.asarray(one.data).size != 1 or float(np.asarray(one.data).reshape(-1)[0]) != 1.0:
            continue
        if div.outputs[0].shape != sqrt.outputs[0].shape:
            continue
        graph.operators.remove(div)
        sqrt.code, sqrt.outputs = "RSQRT", div.outputs
        count += 1
    return count


def _perm(op: Operator) -> list[int] | None:
    """A TRANSPOSE's constant permutation."""
    perm = op.inputs[1] if op.code == "TRANSPOSE" and len(op.inputs) > 1 else None
    return None if perm is None or not perm.is_const else [int(p) for p in np.asarray(perm.data).reshape(-1)]


def _to_reshape(graph: Graph, op: Operator, shape: list[int]) -> None:
    op.code, op.options, op.fields, op.version = "RESHAPE", "ReshapeOptions", {"newShape": shape}, 1
    op.inputs = [op.inputs[0], graph.const(np.asarray(shape, np.int32))]


def transpose_as_reshape(graph: Graph) -> int:
    """A TRANSPOSE whose axes of size > 1 keep their order (``[1, L, C] -> [L, 1, C]``, how
    ``nn.MultiheadAttention`` moves between batch-first and sequence-first) is a RESHAPE: the bytes do
    not move, and the RESHAPE merges with its neighbours."""
    count = 0
    for op in graph.operators:
        perm = _perm(op)
        x = op.inputs[0] if perm is not None else None
        if perm is None or x is None:
            continue
        kept = [p for p in perm if x.shape[p] != 1]
        if kept != sorted(kept):
            continue
        _to_reshape(graph, op, list(op.outputs[0].shape))
        count += 1
    return count


def _swap_last(shape: tuple[int, ...]) -> tuple[int, ...]:
    return (*shape[:-2], shape[-1], shape[-2])


def _carries_transpose(op: Operator, x: Tensor) -> bool:
    """``op`` commutes with swapping the last two axes of its input ``x``."""
    out = op.outputs[0]
    if op.code == QUANT_MARK:
        return True
    if op.code == "RESHAPE":
        return len(x.shape) >= 2 and len(out.shape) >= 2 and out.shape[-2:] == x.shape[-2:]
    if op.code in ("MUL", "DIV", "ADD", "SUB") and op.inputs[0] is x and len(op.inputs) == 2:
        other = op.inputs[1]
        return other is not None and other.is_const and np.asarray(other.data).size == 1
    return False


def transpose_into_batch_matmul(graph: Graph) -> int:
    """A TRANSPOSE of the last two axes whose only path is into a BATCH_MATMUL operand becomes that
    operand's ``adjX`` / ``adjY`` flag; RESHAPEs of leading axes, scalar arithmetic and quantization
    marks on the way keep the untransposed layout (attention's ``q @ (k.transpose(-2, -1) * s)``)."""
    producers = graph.producers()
    count = 0
    for matmul in graph.operators:
        if matmul.code != "BATCH_MATMUL":
            continue
        for index, flag in ((0, "adjX"), (1, "adjY")):
            chain: list[Operator] = []
            tensor = matmul.inputs[index]
            producer = producers.get(id(tensor)) if tensor is not None else None
            while producer is not None and _sole_reader(graph, producer.outputs[0]) is not None:
                perm = _perm(producer)
                if perm is not None:
                    break
                if not _carries_transpose(producer, producer.inputs[0]):  # type: ignore[arg-type]
                    producer = None
                    break
                chain.append(producer)
                producer = producers.get(id(producer.inputs[0]))
            perm = _perm(producer) if producer is not None else None
            rank = len(perm) if perm is not None else 0
            if (
                producer is None
                or perm != [*range(rank - 2), rank - 1, rank - 2]
                or (_sole_reader(graph, producer.outputs[0]) is None)
            ):
                continue
            source = producer.inputs[0]
            assert source is not None
            if chain:
                chain[-1].inputs[0] = source
            else:
                matmul.inputs[index] = source
            for op in chain:
                op.outputs[0].shape = _swap_last(op.outputs[0].shape)
                if op.code == "RESHAPE":
                    _to_reshape(graph, op, list(op.outputs[0].shape))
            matmul.fields[flag] = not matmul.fields.get(flag, False)
            count += 1
    return count


def merge_reshapes(graph: Graph) -> int:
    """A RESHAPE of a RESHAPE's output reads the first one's input instead (the first goes when nobody
    else reads it); a RESHAPE that then gives its input's shape back goes, its readers read the input."""
    producers = graph.producers()
    count = 0
    for op in graph.operators:
        x = op.inputs[0] if op.code == "RESHAPE" and op.inputs else None
        first = producers.get(id(x)) if x is not None else None
        if x is None or first is None or first.code != "RESHAPE" or any(x is out for out in graph.outputs):
            continue
        source = first.inputs[0]
        if source is None or not same_quant(source.quant, x.quant):
            continue
        op.inputs[0] = source
        count += 1
    consumers = graph.consumers()
    for op in graph.operators:
        x = op.inputs[0] if op.code == "RESHAPE" and op.inputs else None
        out = op.outputs[0]
        if x is None or x.shape != out.shape or not same_quant(x.quant, out.quant):
            continue
        if any(out is t for t in graph.outputs):
            continue
        for reader in consumers.get(id(out), []):
            reader.inputs = [x if t is out else t for t in reader.inputs]
        count += 1
    return count


def _readers_reshape_only(
    graph: Graph, tensor: Tensor, consumers: dict[int, list[Operator]]
) -> list[Tensor] | None:
    """The tensors between ``tensor`` and RESHAPEs that are its only readers (through quantization marks),
    ``tensor`` first; ``None`` when something else reads it."""
    tensors = [tensor]
    while True:
        if any(tensors[-1] is out for out in graph.outputs):
            return None
        readers = consumers.get(id(tensors[-1]), [])
        if len(readers) == 1 and readers[0].code == QUANT_MARK:
            tensors.append(readers[0].outputs[0])
            continue
        return tensors if readers and all(r.code == "RESHAPE" for r in readers) else None


def drop_reshape_before_fc(graph: Graph) -> int:
    """FULLY_CONNECTED reads a RESHAPE's input directly when the RESHAPE keeps the last axis: a flatten to
    ``[N, K]`` (the kernel flattens itself), or, with ``keepNumDims``, any regrouping of the leading axes
    when only RESHAPEs read the result (``[1, L, C] -> [L, 1, C]`` around attention's projections)."""
    producers = graph.producers()
    consumers = graph.consumers()  # the pass re-points FC inputs, never who reads an FC output
    count = 0
    for fc in graph.operators:
        x = fc.inputs[0]
        reshape = producers.get(id(x)) if fc.code == "FULLY_CONNECTED" and x is not None else None
        if x is None or reshape is None or reshape.code != "RESHAPE" or _sole_reader(graph, x) is not fc:
            continue
        source = reshape.inputs[0]
        if source is None or not same_quant(source.quant, x.quant):
            continue
        if not fc.fields.get("keepNumDims"):
            if len(x.shape) != 2 or source.shape[0] != x.shape[0]:
                continue
        elif source.shape[-1:] != x.shape[-1:]:
            continue
        else:
            chain = _readers_reshape_only(graph, fc.outputs[0], consumers)
            if chain is None:
                continue
            for tensor in chain:
                tensor.shape = (*source.shape[:-1], tensor.shape[-1])
        fc.inputs[0] = source
        count += 1
    return count


def drop_dead(graph: Graph) -> int:
    live = {id(t) for t in graph.outputs}
    kept: list[Operator] = []
    for op in reversed(graph.operators):
        if any(id(t) in live for t in op.outputs):
            kept.append(op)
            live.update(id(t) for t in op.inputs if t is not None)
    dropped = len(graph.operators) - len(kept)
    graph.operators = kept[::-1]
    return dropped


def optimize(graph: Graph) -> dict[str, int]:
    """Run every pass to a fixed point; returns how often each one applied."""
    counts = {
        "mul_into_conv": 0,
        "bias": 0,
        "activation": 0,
        "hard_swish": 0,
        "rsqrt": 0,
        "flatten_fc": 0,
        "transpose_reshape": 0,
        "transpose_matmul": 0,
        "reshapes": 0,
        "dead": 0,
    }
    counts["dead"] += drop_dead(graph)
    counts["hard_swish"] += fuse_hard_swish(graph)
    counts["rsqrt"] += fuse_rsqrt(graph)
    while True:
        changed = fold_mul_into_conv(graph)
        counts["mul_into_conv"] += changed
        applied = fuse_bias(graph)
        counts["bias"] += applied
        if not changed and not applied:
            break
    counts["activation"] += fuse_activation(graph)
    counts["transpose_reshape"] += transpose_as_reshape(graph)
    counts["transpose_matmul"] += transpose_into_batch_matmul(graph)
    counts["reshapes"] += merge_reshapes(graph)
    counts["flatten_fc"] += drop_reshape_before_fc(graph)
    counts["dead"] += drop_dead(graph)
    return counts
