"""``edgekit compare REFERENCE CANDIDATE [--inputs data.npz] [--per-layer]``."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from edgekit.cli._console import console, table, write_json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "compare", help="compare two model files' outputs (and, with --per-layer, every layer)"
    )
    p.add_argument("reference", type=Path, help=".onnx or .tflite file")
    p.add_argument("candidate", type=Path, help=".onnx or .tflite file")
    p.add_argument("--inputs", type=Path, help=".npy/.npz NCHW batches (default: 8 random samples)")
    p.add_argument(
        "--per-layer", action="store_true", help="match intermediate tensors and report each layer"
    )
    p.add_argument("--json", dest="json_out", type=Path, help="write the report as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import edgekit as ek
    from edgekit.cli._inputs import load_arrays
    from edgekit.runtime import Model

    if args.inputs:
        inputs = load_arrays(args.inputs)
    else:
        spec = Model.load(args.reference).inputs[0]
        shape = [d if d is not None else 1 for d in spec.shape]
        inputs = [np.random.default_rng(i).random(shape, dtype=np.float32) for i in range(8)]
    report = ek.compare(args.reference, args.candidate, inputs, per_layer=args.per_layer)
    rows = [
        ("samples", report.n),
        ("max abs", report.max_abs),
        ("mean abs", report.mean_abs),
        ("output range", report.output_range),
        ("cosine min / mean", f"{report.cosine_min:.6f} / {report.cosine_mean:.6f}"),
        ("top-1 agreement", f"{report.top1_agreement:.2%}"),
    ]
    console.print(table(f"{args.candidate.name} vs {args.reference.name}", ["", "value"], rows))
    if report.layers is not None:
        layer_rows = [
            (d["name"], d.get("max_steps"), d.get("mean_steps"), d.get("scale"))
            for d in (layer.to_dict() for layer in report.layers)
        ]
        console.print(
            table(
                "per layer (error in quantization steps)",
                ["tensor", "max steps", "mean steps", "scale"],
                layer_rows,
            )
        )
        console.print(f"first divergence: {report.first_divergence or 'none'}")
    if args.json_out:
        write_json(args.json_out, report.to_dict())
    return 0
