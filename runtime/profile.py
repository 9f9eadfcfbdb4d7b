"""``Profile``: what a benchmark measured, in a form that survives JSON and crosses devices."""

from __future__ import annotations

import json
import math
import resource
import sys
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any


@dataclass
class Profile:
    """Latency, memory and load time of one model on one backend / delegate / thread count.

    Times are milliseconds measured with ``time.perf_counter_ns``; warm-up runs are excluded from the
    percentiles. ``ops`` maps op type -> ``{"count", "total_ms", "mean_ms"}`` per inference where the
    backend can report it (ONNX Runtime), else None (LiteRT's Python API has no per-op timing).
    ``delegate_coverage`` says how many of the model's nodes the delegate / execution provider took and
    which op types stayed on the fallback path.
    """

    backend: str
    delegate: str
    threads: int | None
    runtime: str
    model_bytes: int
    load_ms: float
    first_ms: float
    runs: int
    warmup: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    std_ms: float
    min_ms: float
    max_ms: float
    peak_rss_mb: float
    cpu: dict[str, Any] = field(default_factory=dict)
    ops: dict[str, dict[str, float]] | None = None
    delegate_coverage: dict[str, Any] = field(default_factory=dict)
    samples_ms: list[float] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        """One line: latency percentiles, load time, memory, where it ran."""
        threads = self.threads if self.threads is not None else "default"
        return (
            f"p50 {self.p50_ms:.3f} ms, p90 {self.p90_ms:.3f} ms, p99 {self.p99_ms:.3f} ms over {self.runs} runs; "
            f"load {self.load_ms:.1f} ms, peak RSS {self.peak_rss_mb:.1f} MiB ({self.backend}/{self.delegate}, "
            f"{threads} threads)"
        )

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), **kwargs)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Profile:
        """Inverse of :meth:`to_dict`; unknown keys go to ``extra`` so newer agents stay readable."""
        known = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in known}
        unknown = {k: v for k, v in data.items() if k not in known}
        if unknown:
            kwargs["extra"] = {**kwargs.get("extra", {}), **unknown}
        return cls(**kwargs)


def summarize(samples_ms: list[float]) -> dict[str, Any]:
    """Percentiles (nearest-rank on all samples), mean, std, min and max.

    >>> s = summarize([1.0, 2.0, 3.0, 4.0])
    >>> s["p50_ms"], s["max_ms"]
    (2.0, 4.0)
    """
    if not samples_ms:
        raise ValueError("no samples: runs must be >= 1")
    ordered = sorted(samples_ms)
    n = len(ordered)

    def rank(q: float) -> float:
        return ordered[min(n - 1, max(0, math.ceil(q * n) - 1))]

    mean = sum(ordered) / n
    std = math.sqrt(sum((x - mean) ** 2 for x in ordered) / n)
    return {
        "p50_ms": rank(0.50),
        "p90_ms": rank(0.90),
        "p99_ms": rank(0.99),
        "mean_ms": mean,
        "std_ms": std,
        "min_ms": ordered[0],
        "max_ms": ordered[-1],
    }


def peak_rss_mb() -> float:
    """Peak resident memory of this process in MiB (VmHWM on Linux, ru_maxrss elsewhere)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024.0 * 1024.0) if sys.platform == "darwin" else rss / 1024.0
