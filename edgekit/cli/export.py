"""``edgekit export MODEL OUT --input-shape 1x3x224x224``: a torchvision name or entry point to ONNX/TFLite."""

from __future__ import annotations

import argparse
from pathlib import Path

from edgekit.cli._console import console, stages, table, write_json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export", help="export a PyTorch model (torchvision name or module:function) to .onnx/.tflite"
    )
    p.add_argument("model", help="torchvision model name (random weights) or package.module:function")
    p.add_argument("output", type=Path, help="output file; the suffix (.onnx, .tflite) chooses the format")
    p.add_argument(
        "--input-shape", default="1x3x224x224", help="example input shape, NCHW (default 1x3x224x224)"
    )
    p.add_argument("--num-classes", type=int, default=None)
    p.add_argument("--json", dest="json_out", type=Path, help="write the result as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch

    import edgekit as ek
    from edgekit.cli._inputs import torch_model
    from edgekit.input_shapes import parse_shape

    shape = parse_shape(args.input_shape)
    model = torch_model(args.model, args.num_classes).eval()
    with stages(f"exporting {args.model} to {args.output}"):
        result = ek.export(model, torch.rand(shape), args.output)
    rows = [
        ("file", result.path),
        ("format", result.format),
        ("size", f"{result.size_bytes / 1024:.1f} KiB"),
        ("quantized", result.quantized),
        ("seconds", f"{result.seconds:.1f}"),
    ]
    if result.parity:
        rows.append(("parity vs PyTorch", result.parity.summary()))
    console.print(table("export", ["", "value"], rows))
    if args.json_out:
        write_json(args.json_out, result.to_dict())
    return 0
