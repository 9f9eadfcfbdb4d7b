"""Which ops of a .tflite file compute in float: the truth behind an "int8" label.

A full-integer file runs every op on int8 tensors; a file with float islands (an op the quantizer or
converter left in float, between DEQUANTIZE and QUANTIZE) is slower and less portable (NPUs reject it)
than its int8 input/output types suggest. An op counts as float when one of its activation tensors
(outputs, or inputs that are not constant weights) is float32/float16; QUANTIZE / DEQUANTIZE are the
conversions themselves and are listed apart.

>>> summary({"ops": 64, "float_ops": {"CONV_2D": 19, "ADD": 2}, "conversions": 4})
'int8, 21 of 64 ops in float: CONV_2D×19, ADD×2'
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

CONVERSIONS = frozenset({"QUANTIZE", "DEQUANTIZE"})


def float_ops(path: str | Path) -> dict[str, Any]:
    """``{"ops": n, "float_ops": {op: count}, "conversions": n}`` for a .tflite file (no delegate applied)."""
    from edgekit.runtime.backends.litert import _interpreter_module

    module, _ = _interpreter_module()
    kwargs: dict[str, Any] = {}
    resolver = getattr(module, "OpResolverType", None)
    if resolver is not None:  # delegates replace ops by DELEGATE nodes: read the graph as written
        kwargs["experimental_op_resolver_type"] = resolver.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    interpreter = module.Interpreter(model_path=str(path), **kwargs)
    tensors = {t["index"]: np.dtype(t["dtype"]) for t in interpreter.get_tensor_details()}
    ops = [op for op in interpreter._get_ops_details() if op["op_name"] != "DELEGATE"]
    # activations: graph inputs and what ops produce; every other op input is a weight / bias / constant
    activations = {d["index"] for d in interpreter.get_input_details()}
    activations.update(i for op in ops for i in op["outputs"] if i >= 0)
    floats: Counter[str] = Counter()
    conversions = 0
    for op in ops:
        if op["op_name"] in CONVERSIONS:
            conversions += 1
            continue
        used = [i for i in (*op["inputs"], *op["outputs"]) if i in activations and i in tensors]
        if any(tensors[i].kind == "f" for i in used):
            floats[op["op_name"]] += 1
    return {"ops": len(ops), "float_ops": dict(floats.most_common()), "conversions": conversions}


def summary(info: dict[str, Any], quantized: bool = True) -> str:
    """``int8, 19 of 64 ops in float: CONV_2D×19 …`` (or ``int8, all 64 ops in int8``; ``float``)."""
    if not quantized:
        return "float"
    n = sum(info["float_ops"].values())
    if n == 0:
        return f"int8, all {info['ops']} ops in int8"
    listed = ", ".join(f"{op}×{count}" for op, count in info["float_ops"].items())
    return f"int8, {n} of {info['ops']} ops in float: {listed}"
