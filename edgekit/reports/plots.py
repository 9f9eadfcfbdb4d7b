"""matplotlib figures for the report, returned as PNG bytes (Agg backend, no display needed)."""

from __future__ import annotations

import io
from typing import Any


def _png(fig: Any) -> bytes:
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=110)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return buffer.getvalue()


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def accuracy_latency_size(points: list[dict[str, Any]]) -> bytes | None:
    """Scatter of p50 latency vs accuracy; marker area ~ file size. points: label, ms, accuracy, bytes."""
    points = [p for p in points if p.get("ms") is not None and p.get("accuracy") is not None]
    if not points:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    biggest = max(p["bytes"] for p in points) or 1
    for p in points:
        ax.scatter(p["ms"], p["accuracy"] * 100, s=60 + 600 * p["bytes"] / biggest, alpha=0.6)
        ax.annotate(
            f"{p['label']}\n{p['bytes'] / 1024:.0f} KiB",
            (p["ms"], p["accuracy"] * 100),
            fontsize=8,
            xytext=(6, 4),
            textcoords="offset points",
        )
    ax.set_xlabel("p50 latency (ms)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title("accuracy vs latency (marker area: file size)")
    ax.grid(alpha=0.3)
    return _png(fig)


def stage_accuracy(stages: list[tuple[str, float]]) -> bytes | None:
    if not stages:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 3.0))
    names, values = zip(*stages, strict=True)
    bars = ax.bar(names, [v * 100 for v in values], color="#4c78a8")
    ax.bar_label(bars, fmt="%.2f")
    ax.set_ylim(min(v * 100 for v in values) - 5, 100.5)
    ax.set_ylabel("test accuracy (%)")
    ax.set_title("accuracy after each stage")
    return _png(fig)


def latency_distribution(samples: dict[str, list[float]]) -> bytes | None:
    samples = {k: v for k, v in samples.items() if v}
    if not samples:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 3.2))
    ax.boxplot(list(samples.values()), tick_labels=list(samples), showfliers=True, vert=False)
    ax.set_xlabel("latency per inference (ms)")
    ax.set_title("latency distribution (all timed runs)")
    return _png(fig)


def channels(layers: list[dict[str, Any]]) -> bytes | None:
    layers = [layer for layer in layers if layer.get("kind") == "conv"]
    if not layers:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 3.2))
    xs = range(len(layers))
    ax.bar([x - 0.2 for x in xs], [layer["channels_before"] for layer in layers], width=0.4, label="before")
    ax.bar([x + 0.2 for x in xs], [layer["channels_after"] for layer in layers], width=0.4, label="after")
    ax.set_xticks(list(xs), [layer["name"] for layer in layers], rotation=60, fontsize=7)
    ax.set_ylabel("output channels")
    ax.set_title("channels per layer, before / after pruning")
    ax.legend()
    return _png(fig)


def op_times(ops: dict[str, dict[str, float]], title: str) -> bytes | None:
    if not ops:
        return None
    plt = _plt()
    top = sorted(ops.items(), key=lambda kv: kv[1]["total_ms"])[-12:]
    fig, ax = plt.subplots(figsize=(6.4, 3.2))
    ax.barh([k for k, _ in top], [v["total_ms"] for _, v in top], color="#f58518")
    ax.set_xlabel("ms per inference")
    ax.set_title(title)
    return _png(fig)


def pareto(
    points: list[dict[str, Any]], front: list[dict[str, Any]], marks: list[dict[str, Any]] | None = None
) -> bytes | None:
    """Search trials as p50 latency vs accuracy, colour = file size; the Pareto front joined by a line.

    points / front: ``ms``, ``accuracy``, ``bytes``; ``marks``: extra labelled points (``label``, ``ms``,
    ``accuracy``), e.g. the chosen trial and a hand-made baseline.
    """
    points = [p for p in points if p.get("ms") is not None and p.get("accuracy") is not None]
    if not points:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7.0, 4.4))
    dots = ax.scatter(
        [p["ms"] for p in points],
        [p["accuracy"] * 100 for p in points],
        c=[p["bytes"] / 1024 for p in points],
        cmap="viridis",
        s=36,
        alpha=0.8,
    )
    fig.colorbar(dots, ax=ax, label="file size (KiB)")
    if front:
        ordered = sorted(front, key=lambda p: p["ms"])
        ax.step(
            [p["ms"] for p in ordered],
            [p["accuracy"] * 100 for p in ordered],
            where="post",
            color="#d62728",
            lw=1.2,
            label="Pareto front",
        )
    for mark in marks or []:
        ax.scatter(mark["ms"], mark["accuracy"] * 100, marker="*", s=180, edgecolors="black", zorder=5)
        ax.annotate(
            mark["label"],
            (mark["ms"], mark["accuracy"] * 100),
            fontsize=8,
            xytext=(6, 4),
            textcoords="offset points",
        )
    ax.set_xscale("log")
    ax.set_xlabel("p50 latency on the target (ms, log)")
    ax.set_ylabel("held-out accuracy of the .tflite (%)")
    ax.set_title("compression search: accuracy vs latency (colour: file size)")
    ax.grid(alpha=0.3)
    if front:
        ax.legend(loc="lower right", fontsize=8)
    return _png(fig)
