"""``edgekit search SEARCH.yaml --out DIR [--resume]``: compression search measured on the target device."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any, cast

from edgekit.cli._console import console, progress_bar, table


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "search", help="search pruning / distillation / quantization settings, measured on a device (Optuna)"
    )
    p.add_argument(
        "file", type=Path, help="search YAML: model, data, space, config (see edgekit.autocompress.loader)"
    )
    p.add_argument(
        "--out", type=Path, required=True, help="study folder (study.db, cache, search.html, best.tflite)"
    )
    p.add_argument(
        "--resume", action="store_true", help="continue the study in --out (finished trials are kept)"
    )
    p.add_argument("--budget", type=int, help="total trials in the study (overrides config.budget)")
    p.add_argument("--target", help="'local', ssh://user@host:port or adb://SERIAL (overrides config.target)")
    p.add_argument(
        "--storage", help="postgresql://user@host:port/db for several workers (default: SQLite in --out)"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def _base_model(spec: dict[str, Any], data: Any, seed: int) -> Any:
    import torch

    from edgekit.demo import DigitsCNN, DigitsResNet, train

    cls = DigitsResNet if spec.get("demo", "cnn") == "resnet" else DigitsCNN
    kwargs: dict[str, Any] = {"in_channels": data.x_train.shape[1]}
    if spec.get("widths"):
        kwargs["widths"] = tuple(spec["widths"])
    torch.manual_seed(seed)
    model = cls(**kwargs)
    if spec.get("state_dict"):
        model.load_state_dict(torch.load(spec["state_dict"], weights_only=True))
    else:
        train(model, data.x_train, data.y_train, epochs=int(spec.get("epochs", 12)), seed=seed)
    return model.eval()


def _row(r: dict[str, Any]) -> list[Any]:
    from edgekit.autocompress.report import _params

    return [
        r["number"],
        _params(r["params"]),
        f"{r['accuracy']:.2%}",
        r["p50_ms"],
        r["p90_ms"],
        f"{r['size_bytes'] / 1024:.1f} KiB",
    ]


def run(args: argparse.Namespace) -> int:
    from edgekit.autocompress import SearchResult, search
    from edgekit.autocompress.loader import load_search_file
    from edgekit.demo import load_digits_split
    from edgekit.errors import ConstraintError

    spec = load_search_file(args.file)  # fails before any work on a bad file
    overrides = {
        k: v for k, v in (("budget", args.budget), ("target", args.target), ("storage", args.storage)) if v
    }
    config = dataclasses.replace(spec.config, resume=args.resume, **overrides)
    data = load_digits_split(size=int(spec.data.get("size", 8)), seed=config.seed)
    with progress_bar("training the base model", config.budget, enabled=not args.quiet) as update:
        model = _base_model(spec.model, data, config.seed)
        try:
            result = search(
                model,
                data,
                spec.space,
                config,
                out=args.out,
                progress=lambda done, total, message: update(done, total, f"{done}/{total} {message}"),
            )
        except ConstraintError as exc:
            result = cast(SearchResult, exc.result)
            failure: ConstraintError | None = exc
        else:
            failure = None
    headers = ["trial", "configuration", "accuracy", "p50 ms", "p90 ms", "size"]
    console.print(
        table(
            f"Pareto front ({len(result.complete)} complete, {len(result.failed)} failed trials)",
            headers,
            [_row(r) for r in result.front],
        )
    )
    if result.chosen is not None:
        console.print(table("chosen", headers, [_row(result.chosen)]))
        console.print(f"exported: {result.artifacts['tflite']}")
    console.print(f"report: {result.report}")
    if failure is not None:
        raise failure
    return 0
