"""Random check inputs for an ONNX graph: float in [0, 1), integer ids inside the range the graph indexes.

Token-id inputs feed a ``Gather`` on an embedding table; ids drawn as floats or past the table's size
make a check fail for the wrong reason, so each integer input gets ids below the smallest table it
indexes (through ``Cast`` nodes), or 0/1 when no table is found.

>>> import onnx
>>> from onnx import helper, numpy_helper, TensorProto
>>> table = numpy_helper.from_array(np.zeros((30, 4), np.float32), "table")
>>> graph = helper.make_graph([helper.make_node("Gather", ["table", "ids"], ["y"])], "g",
...     [helper.make_tensor_value_info("ids", TensorProto.INT64, [1, 5])],
...     [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 5, 4])], [table])
>>> index_limits(helper.make_model(graph))
{'ids': 30}
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def index_limits(model: Any) -> dict[str, int]:
    """``{graph input: exclusive upper bound}`` for integer inputs used as ``Gather`` indices of a table."""
    initializers = {t.name: tuple(t.dims) for t in model.graph.initializer}
    aliases = {i.name: i.name for i in model.graph.input}
    limits: dict[str, int] = {}
    for node in model.graph.node:
        if (
            node.op_type in {"Cast", "Identity", "Unsqueeze", "Reshape", "Squeeze"}
            and node.input[0] in aliases
        ):
            aliases[node.output[0]] = aliases[node.input[0]]
        elif node.op_type == "Gather" and len(node.input) > 1 and node.input[1] in aliases:
            data = initializers.get(node.input[0])
            if data:
                axis = next((a.i for a in node.attribute if a.name == "axis"), 0)
                source = aliases[node.input[1]]
                limits[source] = min(limits.get(source, data[axis]), data[axis])
    return limits


def check_batches(
    model: Any, shapes: Sequence[tuple[int, ...]], dtypes: Sequence[Any], names: Sequence[str], count: int = 2
) -> list[tuple[np.ndarray, ...]]:
    """``count`` batches (one tuple of arrays per batch, batch size 1) for the inputs ``names``."""
    rng = np.random.default_rng(0)
    limits = index_limits(model)
    batches = []
    for _ in range(count):
        arrays = []
        for name, shape, dtype in zip(names, shapes, dtypes, strict=True):
            dtype = np.dtype(dtype)
            shape = (1, *shape[1:])
            if dtype.kind == "b":
                arrays.append(rng.integers(0, 2, shape).astype(bool))
            elif dtype.kind in "iu":
                arrays.append(rng.integers(0, limits.get(name, 2), shape).astype(dtype))
            else:
                arrays.append(rng.random(shape, dtype=np.float32).astype(dtype))
        batches.append(tuple(arrays))
    return batches
