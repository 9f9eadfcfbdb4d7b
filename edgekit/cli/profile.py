"""``edgekit profile MODEL``: latency percentiles, memory, load time, delegate coverage; local or on a device."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from edgekit.cli._console import console, progress_bar, table, write_json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("profile", help="measure a model's latency and memory, here or on a device")
    p.add_argument("model", type=Path, help=".tflite or .onnx file")
    p.add_argument("--backend", default="auto", choices=["auto", "litert", "onnxruntime"])
    p.add_argument("--delegate", default="auto", help="auto, cpu, xnnpack, none, gpu, cuda, tensorrt, ...")
    p.add_argument(
        "--threads", type=int, default=None, help="interpreter threads (default: runtime's choice)"
    )
    p.add_argument("--runs", type=int, default=100)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--json", dest="json_out", type=Path, help="write the Profile as JSON")
    p.add_argument("--device", help="profile on a device: ssh://user@host[:port], adb://SERIAL, local")
    p.add_argument("--key", type=Path, help="SSH private key for --device ssh://")
    p.add_argument("--known-hosts", type=Path, help="known_hosts file for --device ssh://")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def profile_table(profile: Any, title: str) -> Any:
    cov = profile.delegate_coverage or {}
    rows = [
        ("runtime", profile.runtime),
        ("backend / delegate", f"{profile.backend} / {profile.delegate}"),
        ("threads", profile.threads if profile.threads is not None else "default"),
        ("cpu", f"{profile.cpu.get('arch')} {' '.join(profile.cpu.get('flags', []))}"),
        ("model size", f"{profile.model_bytes / 1024:.1f} KiB"),
        ("load", f"{profile.load_ms:.2f} ms"),
        ("first inference", f"{profile.first_ms:.3f} ms"),
        ("p50 / p90 / p99", f"{profile.p50_ms:.3f} / {profile.p90_ms:.3f} / {profile.p99_ms:.3f} ms"),
        ("mean ± std", f"{profile.mean_ms:.3f} ± {profile.std_ms:.3f} ms"),
        ("min / max", f"{profile.min_ms:.3f} / {profile.max_ms:.3f} ms"),
        ("runs (warm-up)", f"{profile.runs} ({profile.warmup})"),
        ("peak RSS", f"{profile.peak_rss_mb:.1f} MiB"),
    ]
    if cov:
        rows.append(("delegate coverage", f"{cov.get('delegated_nodes')}/{cov.get('total_nodes')} nodes"))
    for key in ("device", "emulated", "affinity", "governor"):
        if key in profile.extra:
            rows.append((key, profile.extra[key]))
    return table(title, ["", "value"], rows)


def run(args: argparse.Namespace) -> int:
    from edgekit.runtime.settings import check_threads

    check_threads(args.threads)
    if args.device and args.device != "local":
        from edgekit.devices import connect

        with connect(args.device, key=args.key, known_hosts=args.known_hosts) as device:
            profile = device.profile(
                args.model, delegate=args.delegate, threads=args.threads, runs=args.runs, warmup=args.warmup
            )
    else:
        from edgekit.runtime import Model

        model = Model.load(args.model, backend=args.backend, delegate=args.delegate, threads=args.threads)
        with progress_bar(f"profiling {args.model.name}", args.runs, enabled=not args.quiet) as update:
            profile = model.benchmark(runs=args.runs, warmup=args.warmup, progress=update)
    console.print(profile_table(profile, f"{args.model.name} on {args.device or 'this machine'}"))
    if profile.ops:
        top = sorted(profile.ops.items(), key=lambda kv: -kv[1]["total_ms"])[:15]
        console.print(
            table(
                "per-op time (ONNX Runtime profiler)",
                ["op", "count", "ms / inference"],
                [(op, int(v["count"]), v["total_ms"]) for op, v in top],
            )
        )
    for note in profile.notes:
        console.print(f"note: {note}")
    if args.json_out:
        write_json(args.json_out, profile.to_dict())
    return 0
