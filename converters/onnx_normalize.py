"""Load an ONNX file from any common exporter and normalise its graph before translation.

TorchScript exports (``torch.onnx.export(..., dynamo=False)``), model zoos and other frameworks write
``Constant`` nodes, ``Shape -> Gather -> Concat -> Reshape`` chains, ``Identity`` and ``Dropout`` nodes that
the dynamo exporter never emits. :func:`normalize` folds them with onnxscript's optimizer (constant
folding with ONNX shape inference, constants lifted to initializers, unused nodes removed, common
subexpressions merged; Quantize/DequantizeLinear are kept, so QDQ files stay QDQ).

Why onnxscript's optimizer: measured with ``python benchmarks/onnx_normalize.py`` (2 cores, 2026-12-02,
torchvision resnet18 / mobilenet_v2, random weights, dynamic batch; ops in -> ops left, seconds, ORT max
abs output difference before vs after; results in ``benchmarks/results/onnx_normalize.json``):

===================================  ======================  ======================
file (exporter, opset)               onnxscript 0.7.2        onnxslim 0.1.98
===================================  ======================  ======================
resnet18 TorchScript 11 / 13 / 17    65 -> 49, 0.08-0.47 s   65 -> 49, 0.13-0.15 s
mobilenet_v2 TorchScript 11/13/17    209 -> 100, 0.2-0.3 s   209 -> 100, 0.14-0.18 s
resnet18 dynamo 18, unoptimized      176 -> 49, 0.18 s       176 -> 103, 0.47 s
mobilenet_v2 dynamo 18, unoptimized  559 -> 100, 0.53 s      559 -> 326, 0.57 s
===================================  ======================  ======================

Both fold every ``Constant``/``Shape``/``Gather``/``Identity`` of the TorchScript files with identical
outputs (max abs difference 0; the dynamo rows differ by <1e-6 from re-associated BatchNorm folding).
onnxscript also cleans the dynamo exporter's raw graphs to the same op count (onnxslim leaves 2-3x more),
keeps Quantize/DequantizeLinear by design (QDQ files stay QDQ) and is already a dependency (the dynamo
exporter uses it), so no package is added.

>>> import onnx
>>> from onnx import helper, TensorProto
>>> shape = helper.make_node("Constant", [], ["s"], value=helper.make_tensor("v", TensorProto.INT64, [2], [1, 4]))
>>> graph = helper.make_graph(
...     [shape, helper.make_node("Reshape", ["x", "s"], ["y"])], "g",
...     [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 2])],
...     [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])])
>>> model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
>>> [n.op_type for n in normalize(model).graph.node]
['Reshape']
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from pathlib import Path
from typing import Any

from edgekit.errors import ModelFileError
from edgekit.input_shapes import check_input_shapes, symbolic_dims
from edgekit.runtime.metadata import METADATA_KEY

log = logging.getLogger(__name__)


def load_onnx(path: str | os.PathLike[str], *, map_external: bool = False) -> Any:
    """``onnx.ModelProto`` from ``path``, with weights kept in side files (external data) loaded, or with
    ``map_external`` left in their files and memory-mapped when read (their locations made absolute;
    what ``ek.convert`` does, so a model over 2 GiB is not held twice).

    A truncated/corrupt file or a missing side file raises :class:`~edgekit.errors.ModelFileError`
    naming the file.
    """
    from edgekit.converters.onnx_proto import (
        all_tensors,
        map_external_data,
        parse_model,
        uses_external_data,
    )

    source = Path(path)
    try:
        proto = parse_model(source.read_bytes())
    except Exception as exc:
        raise ModelFileError(
            f"{source} is not a readable ONNX model ({' '.join(str(exc).split())[:300]}): the file is truncated "
            "or corrupt; export it again"
        ) from exc
    external = [t for t in all_tensors(proto.graph) if uses_external_data(t)]
    missing = sorted(
        {
            entry.value
            for tensor in external
            for entry in tensor.external_data
            if entry.key == "location" and not (source.parent / entry.value).is_file()
        }
    )
    if missing:
        raise ModelFileError(
            f"{source.name} keeps its weights in side file(s) {', '.join(missing)} that are not next to it in "
            f"{source.parent}: copy them there (the exporter writes them beside the .onnx file)"
        )
    if external:
        from onnx.external_data_helper import load_external_data_for_model

        try:
            if map_external:
                map_external_data(proto, source.parent)
            else:
                load_external_data_for_model(proto, str(source.parent))
        except Exception as exc:
            raise ModelFileError(
                f"the external data of {source.name} could not be read ({exc}): the side file is truncated; "
                "export the model again"
            ) from exc
    return proto


def fix_input_shapes(model: Any, input_shapes: dict[str, tuple[int, ...]]) -> Any:
    """A copy of ``model`` whose graph inputs have the static ``input_shapes`` (checked: names, rank)."""
    import onnx

    check_input_shapes(model, input_shapes)
    fixed = onnx.ModelProto()
    fixed.CopyFrom(model)
    for inp in fixed.graph.input:
        if inp.name in input_shapes:
            dims = inp.type.tensor_type.shape.dim
            for dim, value in zip(dims, input_shapes[inp.name], strict=True):
                dim.Clear()
                dim.dim_value = int(value)
    del fixed.graph.value_info[:]  # stale symbolic shapes; shape inference recomputes them
    return fixed


# Nodes that normalisation folds away whatever their inputs are.
_FOLDED = frozenset({"Constant", "Shape", "Size", "Identity", "ConstantOfShape"})


def already_normal(model: Any) -> bool:
    """Whether :func:`normalize` has nothing to do: ``ek.export`` wrote the file (onnxscript's optimizer
    ran on it then), every input dim but the batch is static, and no node would fold (a ``Constant``/``Shape``-like
    node, or one whose inputs are all initializers; ``DequantizeLinear`` of int8 weights stays, the
    translator reads it). Checking costs one pass over the nodes; normalising costs importing onnx and
    onnxscript (~1-2 s in a fresh process) and a shape-inference pass.

    >>> from edgekit.converters.onnx_proto import ModelProto
    >>> already_normal(ModelProto())
    False
    """
    if not any(prop.key == METADATA_KEY for prop in model.metadata_props):
        return False
    if any(axis for dims in symbolic_dims(model).values() for axis, _ in dims):  # a batch dim becomes 1
        return False
    constants = {t.name for t in model.graph.initializer} | {""}
    return not any(
        node.op_type in _FOLDED or (node.op_type != "DequantizeLinear" and set(node.input) <= constants)
        for node in model.graph.node
    )


def normalize(model: Any, input_shapes: dict[str, tuple[int, ...]] | None = None) -> Any:
    """Fold constants and shape arithmetic so any exporter's graph reaches the translator in one form.

    ``input_shapes`` fixes symbolic input dims first (so ``Shape`` chains fold too). Without it, a
    symbolic batch dimension becomes 1 (as TFLite's fixed batch); any other symbolic dim raises
    :class:`~edgekit.errors.InputShapeError` listing them with an example ``--input-shapes`` flag.
    """
    if not input_shapes and already_normal(model):
        log.info("the ONNX graph was normalised when ek.export wrote it: translating it as it is")
        return model
    import onnx
    import onnxscript.optimizer

    if not input_shapes:  # a symbolic batch becomes 1 (as in the translator), so Shape chains fold
        symbolic = symbolic_dims(model, raise_beyond_batch=True)
        input_shapes = {
            i.name: tuple(d.dim_value or 1 for d in i.type.tensor_type.shape.dim)
            for i in model.graph.input
            if i.name in symbolic
        }
    if input_shapes:
        model = fix_input_shapes(model, input_shapes)
    before = Counter(n.op_type for n in model.graph.node)
    try:
        optimized = onnxscript.optimizer.optimize(model, num_iterations=2, onnx_shape_inference=True)
    except Exception as exc:  # the optimizer is best effort: translate the graph as written
        log.warning("ONNX normalisation failed (%s); translating the graph as written", exc)
        return model
    if not isinstance(optimized, onnx.ModelProto):  # older onnxscript returns an ir.Model
        import onnx_ir as ir

        optimized = ir.serde.serialize_model(optimized)
    after = Counter(n.op_type for n in optimized.graph.node)
    log.info(
        "normalised the ONNX graph: %d -> %d nodes (%s folded)",
        sum(before.values()),
        sum(after.values()),
        ", ".join(f"{op}×{n - after.get(op, 0)}" for op, n in before.items() if n > after.get(op, 0))
        or "nothing",
    )
    return optimized
