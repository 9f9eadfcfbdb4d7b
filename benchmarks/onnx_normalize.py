"""ONNX normalisation before translation: onnxscript's optimizer vs onnxslim on files from several exporters.

For TorchScript-exported (``dynamo=False``, opsets 11/13/17) resnet18 / mobilenet_v2 and a dynamo export:
seconds to normalise, ops left (total and ``Constant``/``Shape``/``Identity``...), and the largest ORT output
difference before vs after on one random input. ``python benchmarks/onnx_normalize.py`` prints a table and
writes ``benchmarks/results/onnx_normalize.json``.
"""

from __future__ import annotations

import sys
import tempfile
import time
import warnings
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, table, write

FOLDABLE = ("Constant", "Shape", "Gather", "Identity", "ConstantOfShape", "Unsqueeze", "Concat", "Cast")


def _ort(proto, x):
    import onnxruntime as ort

    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def _onnxscript(proto):
    from edgekit.converters.onnx_normalize import normalize

    return normalize(proto)


def _onnxslim(proto):
    import onnxslim

    return onnxslim.slim(proto)


def _files(tmp: Path):
    import onnx
    import torch
    import torchvision

    for name in ("resnet18", "mobilenet_v2"):
        model = torchvision.models.get_model(name, weights=None).eval()
        x = torch.rand(1, 3, 224, 224)
        for opset in (11, 13, 17):
            path = tmp / f"{name}_ts{opset}.onnx"
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch.onnx.export(
                    model,
                    (x,),
                    str(path),
                    dynamo=False,
                    opset_version=opset,
                    dynamic_axes={"input": {0: "batch"}},
                    input_names=["input"],
                )
            yield f"{name} TorchScript opset {opset}", onnx.load(str(path))
        program = torch.onnx.export(model, (x,), dynamo=True, external_data=False, optimize=False)
        yield f"{name} dynamo opset 18 (unoptimized)", program.model_proto


def main() -> None:
    rows, records = [], []
    rng = np.random.default_rng(0)
    x = rng.random((1, 3, 224, 224), dtype=np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        for label, proto in _files(Path(tmp)):
            ref = _ort(proto, x)
            ops_in = Counter(n.op_type for n in proto.graph.node)
            for lib, fn in (("onnxscript", _onnxscript), ("onnxslim", _onnxslim)):
                start = time.perf_counter()
                try:
                    out = fn(proto)
                except Exception as exc:  # report, do not stop the table
                    records.append({"model": label, "library": lib, "error": str(exc)[:300]})
                    continue
                seconds = time.perf_counter() - start
                ops = Counter(n.op_type for n in out.graph.node)
                diff = float(np.abs(_ort(out, x) - ref).max())
                foldable = sum(ops.get(op, 0) for op in FOLDABLE)
                rows.append(
                    (
                        label,
                        lib,
                        sum(ops_in.values()),
                        sum(ops.values()),
                        foldable,
                        f"{seconds:.2f}",
                        f"{diff:.2g}",
                    )
                )
                records.append(
                    {
                        "model": label,
                        "library": lib,
                        "ops_in": dict(ops_in),
                        "ops_out": dict(ops),
                        "seconds": seconds,
                        "max_abs_diff": diff,
                    }
                )
    print(
        table(["model", "library", "ops in", "ops out", "foldable left", "seconds", "ORT max abs diff"], rows)
    )
    write("onnx_normalize", {"machine": machine(), "rows": records})


if __name__ == "__main__":
    main()
