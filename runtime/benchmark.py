"""Latency / memory measurement of a loaded :class:`~edgekit.runtime.model.Model`."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from edgekit.runtime.cpuinfo import cpu_info
from edgekit.runtime.profile import Profile, peak_rss_mb, summarize
from edgekit.runtime.settings import check_runs

Progress = Callable[[int, int], None]
"""progress(done, total), called after each timed run."""


def benchmark(
    model: Any,
    *,
    runs: int = 100,
    warmup: int = 10,
    op_profile: bool = True,
    progress: Progress | None = None,
) -> Profile:
    """Time ``runs`` inferences of ``model`` after ``warmup`` untimed ones.

    Inputs are random tensors in the file's layout and dtype, fed straight to the backend, so the numbers
    are the runtime's latency (the wrapper's own overhead is measured in benchmarks/runtime_overhead.py).
    ``first_ms`` is the first inference (lazy delegate initialisation shows there). Per-op times come from
    ONNX Runtime's profiler in a separate session, so profiling never slows the timed runs.
    """
    check_runs(runs, warmup)
    backend = model._backend
    arrays = [model._encode(b, x, raw=False) for b, x in zip(model._in, model.sample_inputs(), strict=True)]
    run = backend.run
    clock = time.perf_counter_ns

    start = clock()
    run(arrays)
    first_ms = (clock() - start) / 1e6
    for _ in range(warmup):
        run(arrays)
    samples = []
    for i in range(runs):
        t0 = clock()
        run(arrays)
        samples.append((clock() - t0) / 1e6)
        if progress is not None:
            progress(i + 1, runs)

    notes = []
    ops = backend.op_times(arrays, min(runs, 20)) if op_profile else None
    if ops is None and backend.name == "litert":
        notes.append("per-op times are not available from the LiteRT Python API")
    coverage = backend.delegate_coverage()
    if coverage.get("fallback_op_types") and coverage.get("delegate") not in {"none", "cpu"}:
        notes.append(
            f"{coverage['total_nodes'] - coverage['delegated_nodes']} of {coverage['total_nodes']} nodes run outside "
            f"the {coverage['delegate']} delegate: {', '.join(sorted(coverage['fallback_op_types']))}"
        )
    if model.metadata is None:
        notes.append("no edgekit metadata in the file: inputs are fed in the file's own layout")
    return Profile(
        backend=backend.name,
        delegate=backend.delegate,
        threads=backend.threads,
        runtime=backend.runtime,
        model_bytes=model.path.stat().st_size,
        load_ms=model.load_ms,
        first_ms=first_ms,
        runs=runs,
        warmup=warmup,
        peak_rss_mb=peak_rss_mb(),
        cpu=cpu_info(),
        ops=ops,
        delegate_coverage=coverage,
        samples_ms=samples,
        notes=notes,
        **summarize(samples),
    )
