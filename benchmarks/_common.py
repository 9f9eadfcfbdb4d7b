"""Shared helpers for the benchmark scripts: interleaved timing, tables, JSON results."""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def interleaved(
    fns: dict[str, Callable[[], Any]], *, rounds: int = 15, calls: int = 20, warmup: int = 5
) -> dict[str, float]:
    """Median seconds per call of each function, measured round-robin so machine noise hits all alike."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            start = time.perf_counter_ns()
            for _ in range(calls):
                fn()
            samples[name].append((time.perf_counter_ns() - start) / calls / 1e9)
    return {name: statistics.median(values) for name, values in samples.items()}


def machine() -> dict[str, Any]:
    from edgekit.runtime.cpuinfo import cpu_info

    return {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu": cpu_info(),
    }


def write(name: str | Path, data: dict[str, Any]) -> Path:
    """Write ``data`` (with the machine) to ``benchmarks/results/<name>.json``, or to ``name`` given as a path."""
    path = name if isinstance(name, Path) else RESULTS / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"machine": machine(), **data}, indent=2, default=str) + "\n")
    return path


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub-flavoured markdown table (what the README and closing notes show)."""

    def cell(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.4g}"
        return str(v)

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def bn_ready(name: str, size: int, num_classes: int = 1000) -> Any:
    """A torchvision model with weights=None and BatchNorm statistics re-estimated on random inputs
    (a cumulative average over the passes, so the statistics are those of the inputs, not 19% of them)."""
    import torch
    import torchvision

    torch.manual_seed(0)
    model = torchvision.models.get_model(name, weights=None, num_classes=num_classes).train()
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.reset_running_stats()
            module.momentum = None
    with torch.no_grad():
        for _ in range(2):
            model(torch.rand(4, 3, size, size))
    return model.eval()


def raw_litert(path: Path, x_nhwc: Any) -> Callable[[], Any]:
    """A call of the bare ai_edge_litert Interpreter (set_tensor / invoke / get_tensor), one thread."""
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(path), num_threads=1)
    interp.allocate_tensors()
    i, o = interp.get_input_details()[0]["index"], interp.get_output_details()[0]["index"]

    def call() -> Any:
        interp.set_tensor(i, x_nhwc)
        interp.invoke()
        return interp.get_tensor(o)

    return call


def isolated(fn: Callable[..., dict[str, Any]], name: str, *args: Any) -> dict[str, Any]:
    """``fn(name, *args)`` in a fresh process: memory of big models is returned between models, and a
    model the machine cannot hold is recorded instead of ending the run."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=context) as pool:
        try:
            return pool.submit(fn, name, *args).result()
        except BrokenProcessPool:
            return {
                "model": name,
                "status": "failed",
                "error": "the worker process died (killed for memory?) while exporting or converting",
            }


def cold_convert(src: Path, dst: Path, writer: str = "direct") -> float:
    """Wall seconds of a fresh Python process that imports edgekit and runs ``ek.convert(verify=False)``
    (what a user's one-off conversion costs, interpreter start included)."""
    import subprocess

    script = (
        "import sys; import edgekit as ek; "
        "ek.convert(sys.argv[1], sys.argv[2], ek.ConvertConfig(verify=False, writer=sys.argv[3]))"
    )
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", script, str(src), str(dst), writer],
        capture_output=True,
        text=True,
        timeout=900,
    )
    if done.returncode:
        raise RuntimeError(done.stderr[-2000:])
    return time.perf_counter() - start
