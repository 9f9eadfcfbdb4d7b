"""Translate an ONNX graph into a TensorFlow concrete function, node by node, in NHWC.

The builder walks the (topologically sorted) ONNX graph once. Nodes whose inputs are all constants are
folded with ONNX's reference evaluator; every other node goes to its handler in the registry.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgekit.converters.onnx_proto import attribute_value, np_dtype, to_array
from edgekit.converters.tflite import registry
from edgekit.converters.tflite.values import (
    NCHW_TO_NHWC,
    Layout,
    NodeContext,
    QuantizedConstant,
    Value,
    as_layout,
)
from edgekit.converters.tflite.weights import WeightStore
from edgekit.errors import ConversionError, UnsupportedOpError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IOSpec:
    """A graph input or output: ONNX name, ONNX-layout static shape, layout in the TF graph."""

    name: str
    onnx_shape: tuple[int, ...]
    layout: Layout
    dtype: Any

    @property
    def to_file_perm(self) -> tuple[int, ...] | None:
        return NCHW_TO_NHWC if self.layout is Layout.NHWC else None

    @property
    def file_shape(self) -> tuple[int, ...]:
        return (
            tuple(self.onnx_shape[i] for i in NCHW_TO_NHWC) if self.layout is Layout.NHWC else self.onnx_shape
        )


def _attrs(node: Any) -> dict[str, Any]:
    return {a.name: attribute_value(a) for a in node.attribute}


def _opset(model: Any) -> int:
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)


def graph_inputs(model: Any, input_shapes: dict[str, tuple[int, ...]] | None = None) -> list[IOSpec]:
    """Static input specs; the batch dimension of a dynamic input becomes 1."""
    initializers = {i.name for i in model.graph.initializer}
    specs = []
    for inp in model.graph.input:
        if inp.name in initializers:
            continue
        tensor_type = inp.type.tensor_type
        if input_shapes and inp.name in input_shapes:
            shape = tuple(int(d) for d in input_shapes[inp.name])
        else:
            dims: list[int] = []
            for i, dim in enumerate(tensor_type.shape.dim):
                if dim.HasField("dim_value") and dim.dim_value > 0:
                    dims.append(dim.dim_value)
                elif i == 0:
                    dims.append(1)
                else:
                    raise UnsupportedOpError(
                        f"input {inp.name!r} has a dynamic dimension {i} ({dim.dim_param or '?'}); TFLite conversion "
                        "needs static shapes: pass input_shapes={name: shape} to convert()"
                    )
            shape = tuple(dims)
        dtype = np_dtype(tensor_type.elem_type)
        specs.append(
            IOSpec(inp.name, shape, Layout.NHWC if len(shape) == 4 else Layout.PLAIN, np.dtype(dtype))
        )
    return specs


def _fold(node: Any, inputs: list[Value | None], opset: int) -> list[np.ndarray] | None:
    """Evaluate a node whose inputs are all constants with ONNX's reference implementation."""
    from onnx import helper
    from onnx.reference import ReferenceEvaluator

    names = [f"i{k}" for k in range(len(node.input))]
    feeds = {}
    graph_inputs_ = []
    for name, original, value in zip(names, node.input, inputs, strict=True):
        if original:
            assert value is not None  # an input is None only where its name is empty
            feeds[name] = value.const
            graph_inputs_.append(
                helper.make_tensor_value_info(
                    name, helper.np_dtype_to_tensor_dtype(value.const.dtype), value.const.shape
                )
            )
    new = helper.make_node(
        node.op_type,
        [n if o else "" for n, o in zip(names, node.input, strict=True)],
        [f"o{k}" for k in range(len(node.output))],
        domain=node.domain,
        **_attrs(node),
    )
    outputs = [helper.make_tensor_value_info(f"o{k}", 0, None) for k in range(len(node.output))]
    try:
        graph = helper.make_graph([new], "fold", graph_inputs_, outputs)
        results = ReferenceEvaluator(graph, opsets={"": opset}).run(None, feeds)
    except Exception as exc:  # the reference evaluator raises many types; fall back to the handler
        log.debug("could not fold %s %s: %s", node.op_type, node.name, exc)
        return None
    return [np.asarray(r) for r in results]


class GraphTranslator:
    """Builds the TF function for one ONNX model."""

    def __init__(self, model: Any, input_shapes: dict[str, tuple[int, ...]] | None = None) -> None:
        self.model = model
        self.opset = _opset(model)
        self.inputs = graph_inputs(model, input_shapes)
        self.outputs: list[IOSpec] = []
        self.notes: list[str] = []
        self.weights = WeightStore()
        self._check_supported()

    def _check_supported(self) -> None:
        """One error naming every unsupported op type (count, first nodes, what to do) before any work."""
        supported = set(registry.supported_ops())
        missing: dict[str, list[str]] = {}
        for node in self.model.graph.node:
            if node.domain not in ("", "ai.onnx"):
                missing.setdefault(f"{node.domain}::{node.op_type} (custom domain)", []).append(node.name)
            elif node.op_type not in supported:
                missing.setdefault(node.op_type, []).append(node.name)
        if not missing:
            return
        lines = []
        for op, nodes in missing.items():
            shown = ", ".join(repr(n) for n in nodes[:3]) + (
                f" and {len(nodes) - 3} more" if len(nodes) > 3 else ""
            )
            advice = _ADVICE.get(op)
            lines.append(f"{op} x{len(nodes)} (node {shown})" + (f": {advice}" if advice else ""))
        raise UnsupportedOpError(
            f"ONNX ops not supported by the TFLite translator (opset {self.opset}; neither writer='direct' nor "
            f"writer='tf'): {'; '.join(lines)}. Supported ops: {', '.join(sorted(supported))}"
        )

    def function(self, tf: Any) -> Any:
        """A concrete ``tf.function`` computing the graph's outputs from NHWC/plain inputs."""
        signature = [
            tf.TensorSpec(spec.file_shape, tf.as_dtype(spec.dtype), name=tf_name(spec.name))
            for spec in self.inputs
        ]

        @tf.function(input_signature=signature, autograph=False)
        def graph_fn(*tensors: Any) -> Any:
            with self.weights.active():
                return self._run(tf, tensors)

        return graph_fn.get_concrete_function()

    def _run(self, tf: Any, tensors: tuple[Any, ...]) -> list[Any]:
        values: dict[str, Value | None] = {"": None}
        for init in self.model.graph.initializer:
            values[init.name] = Value(to_array(init))
        for spec, tensor in zip(self.inputs, tensors, strict=True):
            values[spec.name] = Value(tensor, spec.layout)
        for node in self.model.graph.node:
            try:
                inputs = [values[name] if name else None for name in node.input]
            except KeyError as exc:
                raise ConversionError(
                    f"node {node.name!r} reads {exc.args[0]!r}, which no earlier node produces"
                ) from exc
            outs = None
            first = inputs[0] if inputs else None
            if (
                node.op_type == "Transpose"
                and first is not None
                and isinstance(first.data, QuantizedConstant)
            ):
                # an int8 weight transposed before MatMul: folding through the evaluator would drop its scales
                perm = _attrs(node).get("perm")
                outs = [Value(first.data.transposed(list(perm) if perm else None))]
            elif (
                node.op_type == "Reshape"
                and first is not None
                and isinstance(first.data, QuantizedConstant)
                and inputs[1] is not None
                and inputs[1].is_const
                and first.data.reshaped(list(inputs[1].const)) is not None
            ):  # a per-tensor int8 constant reshaped (PReLU's slope): keep its scale
                outs = [Value(first.data.reshaped(list(inputs[1].const)))]
            elif registry.foldable(node.op_type) and all(v is None or v.is_const for v in inputs):
                folded = _fold(node, inputs, self.opset)
                outs = [Value(a) for a in folded] if folded is not None else None
            if outs is None:
                if not registry.keeps_flat(node.op_type):
                    inputs = [_unflattened(tf, v) for v in inputs]
                ctx = NodeContext(node, inputs, _attrs(node), tf, self.opset, self.notes)
                outs = self._handle(node, ctx)
                if hasattr(tf, "tag_origin"):  # the direct writer's emitter: int8 messages name the node
                    tf.tag_origin(f"ONNX {node.op_type} node {node.name!r}")
            for name, value in zip(node.output, outs, strict=False):
                if name:
                    values[name] = value
        results = []
        self.outputs = []
        for out in self.model.graph.output:
            result = values[out.name]
            if result is None:
                raise ConversionError(f"graph output {out.name!r} has an empty name")
            layout = result.layout if result.rank == 4 and not result.is_const else Layout.PLAIN
            tensor = as_layout(tf, result, layout) if not result.is_const else tf.constant(result.const)
            self.outputs.append(
                IOSpec(out.name, result.onnx_shape, layout, np.dtype(tensor.dtype.as_numpy_dtype))
            )
            results.append(tf.identity(tensor, name=tf_name(out.name)))
        return results

    @staticmethod
    def _handle(node: Any, ctx: NodeContext) -> list[Value]:
        from edgekit.converters.tflite.direct.emitter import NoDirectLoweringError

        handle = registry.handler(node.op_type)
        if handle is None:  # _check_supported has rejected the model already
            raise UnsupportedOpError(f"ONNX op {node.op_type} (node {node.name!r}) is not supported")
        try:
            return handle(ctx)
        except NoDirectLoweringError as exc:
            raise NoDirectLoweringError(
                f"ONNX op {node.op_type} (node {node.name!r}): {exc} has no lowering in the direct TFLite "
                "writer; writer='tf' (TensorFlow's converter, the tf extra) converts it"
            ) from exc


# What to do about ops whose output size depends on the data (TFLite needs static shapes).
_ADVICE = {
    "NonZero": "its output length depends on the data; use a mask (Where / Mul) instead, or run that part "
    "outside the model",
    "NonMaxSuppression": "export the model without NMS (backbone and head) and run NMS on the outputs, or "
    "build NMS into the graph with a fixed number of boxes",
    "RoiAlign": "export the model up to the region proposals and crop/resize outside the model",
    "Loop": "unroll the loop in the model (a fixed number of steps) before exporting",
    "If": "export with the branch fixed (no data-dependent Python control flow)",
}


def _unflattened(tf: Any, value: Value | None) -> Value | None:
    if value is None or value.layout is not Layout.FLAT_NHWC:
        return value
    return Value(as_layout(tf, value, Layout.PLAIN))


def tf_name(name: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "_." else "_" for c in name)
    return cleaned if cleaned and cleaned[0].isalpha() else f"t_{cleaned}"
