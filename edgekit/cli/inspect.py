"""``edgekit inspect MODEL``: inputs/outputs with quantization, op histogram, size, backend."""

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

    return {
        "path": str(model_path),
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
        f"{'int8' if info['quantized'] else 'float'}  layout metadata: {'yes' if info['layout_metadata'] else 'no'}"
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
