"""Graph pass: the exact-GELU subgraph ``x * 0.5 * (1 + erf(x / sqrt(2)))`` becomes one Gelu node.

torch.onnx at opset 18 spells GELU out with Erf; TFLite has no ERF (the translator would emit a
polynomial of several elementwise ops per GELU) but has a GELU builtin that XNNPACK runs. The pass
matches the spelled-out form in either multiplication order and leaves anything else alone.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from edgekit.converters.onnx_proto import NodeProto, to_array


def _scalar(name: str | None, constants: dict[str, np.ndarray]) -> float | None:
    value = constants.get(name) if name else None
    return float(value.reshape(-1)[0]) if value is not None and value.size == 1 else None


def _constants(model: Any) -> dict[str, np.ndarray]:
    """The scalar constants (the only ones the pattern reads; weights are not copied)."""
    out = {i.name: to_array(i) for i in model.graph.initializer if math.prod(i.dims) == 1}
    for node in model.graph.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].HasField("t"):
            out[node.output[0]] = to_array(node.attribute[0].t)
    return out


def _other(node: Any, name: str) -> str | None:
    """The input of a binary ``node`` that is not ``name``."""
    rest = [i for i in node.input if i != name]
    return rest[0] if len(rest) == 1 and len(node.input) == 2 else None


def fuse_gelu(model: Any) -> tuple[Any, int]:
    """A copy of ``model`` with each exact-GELU subgraph replaced by a Gelu node, and how many were fused
    (the model itself when there are none)."""
    graph = model.graph
    if not any(n.op_type == "Erf" for n in graph.node):
        return model, 0
    constants = _constants(model)
    producer = {o: n for n in graph.node for o in n.output}
    consumers: dict[str, list[Any]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    outputs = {o.name for o in graph.output}

    # Any, not Any | None: ``only_consumer(...) is not erf`` would otherwise narrow ``erf`` to Optional.
    def only_consumer(name: str) -> Any:  # the single consuming node, or None
        users = consumers.get(name, [])
        return users[0] if len(users) == 1 and name not in outputs else None

    def near(value: float | None, target: float) -> bool:
        return value is not None and abs(value - target) <= 1e-6 * abs(target)

    fused: list[tuple[list[Any], Any]] = []
    for erf in (n for n in graph.node if n.op_type == "Erf"):
        scale = producer.get(erf.input[0])
        if scale is None or scale.op_type not in ("Div", "Mul"):
            continue
        factor = scale.input[1] if len(scale.input) == 2 else None
        if scale.op_type == "Mul" and factor not in constants:
            factor = scale.input[0]
        x = _other(scale, factor) if factor in constants else None
        wanted = math.sqrt(2.0) if scale.op_type == "Div" else 1 / math.sqrt(2.0)
        add = only_consumer(erf.output[0])
        if (
            x is None
            or not near(_scalar(factor, constants), wanted)
            or only_consumer(scale.output[0]) is not erf
            or add is None
            or add.op_type != "Add"
        ):
            continue
        if not near(_scalar(_other(add, erf.output[0]), constants), 1.0):
            continue
        first = only_consumer(add.output[0])
        second = only_consumer(first.output[0]) if first is not None and first.op_type == "Mul" else None
        if second is None or second.op_type != "Mul":
            continue
        operands = {_other(first, add.output[0]), _other(second, first.output[0])}
        halves = [o for o in operands if near(_scalar(o, constants), 0.5)]
        if len(halves) != 1 or operands - set(halves) != {x}:
            continue
        gelu = NodeProto(op_type="Gelu", input=[x], output=[second.output[0]], name=f"{erf.name}_gelu")
        fused.append(([scale, erf, add, first, second], gelu))
    if not fused:
        return model, 0
    removed = {id(n) for nodes, _ in fused for n in nodes}
    replacement = {id(nodes[-1]): gelu for nodes, gelu in fused}
    copy = type(model)()
    copy.CopyFrom(model)
    del copy.graph.node[:]
    for node in graph.node:
        if id(node) in replacement:
            copy.graph.node.append(replacement[id(node)])
        elif id(node) not in removed:
            copy.graph.node.append(node)
    return copy, len(fused)
