"""``edgekit run RECIPE --out DIR``: the whole pipeline with progress, a table, summary.json and report.html."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from edgekit.cli._console import console, progress_bar, table

if TYPE_CHECKING:
    from edgekit.recipes import RunSummary


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run a recipe: train/prune/quantize/export/verify/profile into a folder")
    p.add_argument("recipe", type=Path, help="recipe YAML (see examples/digits.yaml)")
    p.add_argument(
        "--out", type=Path, required=True, help="output folder (artifacts, summary.json, report.html)"
    )
    p.add_argument("--force", action="store_true", help="redo every step even if its inputs are unchanged")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.add_argument(
        "--json", dest="json", action="store_true", help="print summary.json to stdout instead of a table"
    )
    p.set_defaults(func=run)


def stage_rows(summary: RunSummary) -> list[list[str]]:
    rows = []
    for s in summary.stages:
        latency = "; ".join(f"{k} p50 {v['p50_ms']:.3f} ms" for k, v in s.latency.items() if "p50_ms" in v)
        rows.append(
            [
                s.name + (" (cached)" if s.cached else ""),
                "" if s.accuracy is None else f"{s.accuracy:.2%}",
                "" if s.params is None else f"{s.params:,}",
                "" if s.size_bytes is None else f"{s.size_bytes / 1024:.1f} KiB",
                latency,
                f"{s.seconds:.1f}",
                "ok" if s.error is None else f"FAILED: {s.error}",
            ]
        )
    return rows


def run(args: argparse.Namespace) -> int:
    from edgekit.recipes import load_recipe
    from edgekit.recipes import run as run_recipe

    recipe = load_recipe(args.recipe)  # fails before any work on a bad recipe
    with progress_bar(recipe.name, 1, enabled=not (args.quiet or args.json)) as update:
        summary = run_recipe(
            recipe,
            out=args.out,
            force=args.force,
            progress=lambda message, done, total: update(done, total, message),
        )
    if args.json:
        print(json.dumps(summary.to_dict(), indent=2, default=str))
    else:
        console.print(
            table(
                f"{recipe.name} ({summary.seconds:.0f} s)",
                ["step", "accuracy", "params", "file", "latency", "s", "status"],
                stage_rows(summary),
            )
        )
        console.print(f"report: {args.out / 'report.html'}")
    return 0 if summary.ok else 1
