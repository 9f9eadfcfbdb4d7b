"""``edgekit convert SRC.onnx DST.tflite [--calibrate data.npz] [--input-shapes x:1x3x224x224]``."""

from __future__ import annotations

import argparse
from pathlib import Path

from edgekit.cli._console import console, stages, table, write_json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "convert", help="convert an ONNX file to TFLite (QDQ -> full int8 with the same scales)"
    )
    p.add_argument("source", type=Path, help=".onnx file")
    p.add_argument("output", type=Path, help=".tflite file")
    p.add_argument("--calibrate", type=Path, help=".npy/.npz NCHW batches: float model -> full int8")
    p.add_argument(
        "--input-shapes",
        metavar="NAME:SHAPE[,...]",
        help="fix symbolic input dims, e.g. input:1x3x224x224,mask:1x77 (TFLite needs static shapes)",
    )
    p.add_argument("--json", dest="json_out", type=Path, help="write the result as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import edgekit as ek
    from edgekit.cli._inputs import load_arrays
    from edgekit.input_shapes import parse_input_shapes

    shapes = parse_input_shapes(args.input_shapes)
    calibrate = load_arrays(args.calibrate) if args.calibrate else None
    with stages(f"converting {args.source} to {args.output}"):
        result = ek.convert(
            args.source, args.output, ek.ConvertConfig(input_shapes=shapes), tflite_calibration=calibrate
        )
    rows = [
        ("file", result.path),
        ("size", f"{result.size_bytes / 1024:.1f} KiB"),
        ("int8", result.quantized),
        ("seconds", f"{result.seconds:.1f}"),
        ("ops", ", ".join(f"{k}×{v}" for k, v in result.ops.items())),
    ]
    if result.parity:
        rows.append(("parity vs ONNX Runtime", result.parity.summary()))
    console.print(table("convert", ["", "value"], rows))
    if args.json_out:
        write_json(args.json_out, result.to_dict())
    return 0
