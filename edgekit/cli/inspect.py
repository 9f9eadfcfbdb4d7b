"""``edgekit inspect MODEL``: inputs/outputs with quantization, op histogram, size, backend.

An int8 .tflite file is labelled with the ops that still compute in float ("int8, 19 of 64 ops in float:
CONV_2D×19 …"), also under ``precision`` / ``float_ops`` in ``--json``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from edgekit.cli._console import console, table, write_json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("inspect", help="show a model file's inputs, outputs, ops and size")
    p.add_argument("model", type=Path, help=".tflite or .onnx file")
    p.add_argument("--backend", default="auto", choices=["auto", "litert", "onnxruntime"])
    p.add_argument("--json", dest="json_out", type=Path, help="also write the description as JSON")
    p.set_defaults(func=run)


def describe(model_path: Path, backend: str = "auto") -> dict:
    from edgekit.runtime import Model

    model = Model.load(model_path, backend=backend)

    def tensors(specs: list) -> list[dict]:
        return [
            {
                "name": s.name,
                "shape": list(s.shape),
                "dtype": str(s.dtype),
                "file_shape": list(s.file_shape),
                "file_dtype": str(s.file_dtype),
                "quantization": list(s.quantization) if s.quantization else None,
            }
            for s in specs
        ]

    ops = None
    if model_path.suffix.lower() == ".tflite":
        from edgekit.runtime.float_ops import float_ops

        ops = float_ops(model_path)
    precision = "int8 (QDQ)" if model.quantized else "float"
    if ops is not None:
        from edgekit.runtime.float_ops import summary

        all_float = sum(ops["float_ops"].values()) == ops["ops"]
        precision = summary(ops, quantized=model.quantized or not all_float)
    return {
        "path": str(model_path),
        "precision": precision,
        "float_ops": ops["float_ops"] if ops else None,
        "size_bytes": model_path.stat().st_size,
        "backend": model.backend,
        "runtime": model.runtime_name,
        "delegate": model.delegate,
        "quantized": model.quantized,
        "layout_metadata": model.metadata is not None,
        "inputs": tensors(model.inputs),
        "outputs": tensors(model.outputs),
        "ops": dict(sorted(model.op_histogram().items(), key=lambda kv: -kv[1])),
    }


def run(args: argparse.Namespace) -> int:
    info = describe(args.model, args.backend)
    console.print(
        f"[bold]{info['path']}[/bold]  {info['size_bytes'] / 1024:.1f} KiB  {info['runtime']}  "
        f"{info['precision']}  layout metadata: {'yes' if info['layout_metadata'] else 'no'}"
    )
    for kind in ("inputs", "outputs"):
        rows = [
            (
                t["name"],
                "x".join("?" if d is None else str(d) for d in t["shape"]),
                t["dtype"],
                "x".join("?" if d is None else str(d) for d in t["file_shape"]),
                t["file_dtype"],
                ""
                if not t["quantization"]
                else f"scale={t['quantization'][0]:.6g} zp={t['quantization'][1]}",
            )
            for t in info[kind]
        ]
        console.print(
            table(kind, ["name", "shape", "dtype", "file shape", "file dtype", "quantization"], rows)
        )
    console.print(table("ops", ["op", "count"], list(info["ops"].items())))
    if args.json_out:
        write_json(args.json_out, info)
    return 0
