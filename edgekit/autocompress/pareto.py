"""Pareto front of finished trials and the constraint modes that pick one trial from them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from edgekit.autocompress.config import OBJECTIVES


def _vector(record: dict[str, Any], objectives: Sequence[str]) -> list[float]:
    """Objective values turned into 'smaller is better'."""
    out = []
    for name in objectives:
        direction, key = OBJECTIVES[name]
        value = float(record[key])
        out.append(-value if direction == "maximize" else value)
    return out


def pareto_front(records: Sequence[dict[str, Any]], objectives: Sequence[str]) -> list[dict[str, Any]]:
    """The non-dominated records, sorted by the first minimized objective (e.g. latency).

    >>> a = {"accuracy": 0.9, "p50_ms": 1.0}; b = {"accuracy": 0.8, "p50_ms": 2.0}
    >>> [r["accuracy"] for r in pareto_front([a, b], ["accuracy", "latency_ms"])]
    [0.9]
    """
    vectors = [_vector(r, objectives) for r in records]
    front = []
    for i, v in enumerate(vectors):
        dominated = any(
            all(o <= s for o, s in zip(w, v, strict=True)) and any(o < s for o, s in zip(w, v, strict=True))
            for j, w in enumerate(vectors)
            if j != i
        )
        if not dominated:
            front.append(records[i])
    return sorted(front, key=lambda r: (r.get("p50_ms", 0.0), -r.get("accuracy", 0.0)))


def feasible(record: dict[str, Any], min_accuracy: float | None, max_latency_ms: float | None) -> bool:
    if min_accuracy is not None and record["accuracy"] < min_accuracy:
        return False
    return max_latency_ms is None or record["p50_ms"] <= max_latency_ms


def constraint_values(
    record: dict[str, Any], min_accuracy: float | None, max_latency_ms: float | None
) -> list[float]:
    """Optuna constraint values (<= 0 means satisfied) for the samplers' constrained search."""
    values = []
    if min_accuracy is not None:
        values.append(min_accuracy - record["accuracy"])
    if max_latency_ms is not None:
        values.append(record["p50_ms"] - max_latency_ms)
    return values


def choose(
    records: Sequence[dict[str, Any]], min_accuracy: float | None, max_latency_ms: float | None
) -> dict[str, Any] | None:
    """The chosen trial: fastest with accuracy >= ``min_accuracy``; else most accurate under
    ``max_latency_ms``; with no constraint the most accurate (then fastest). None when nothing is feasible.
    """
    ok = [r for r in records if feasible(r, min_accuracy, max_latency_ms)]
    if not ok:
        return None
    if min_accuracy is not None:
        return min(ok, key=lambda r: (r["p50_ms"], -r["accuracy"]))
    return max(ok, key=lambda r: (r["accuracy"], -r["p50_ms"]))


def closest(
    records: Sequence[dict[str, Any]], min_accuracy: float | None, max_latency_ms: float | None
) -> dict[str, Any]:
    """The record nearest to meeting the constraints (for the message when none does)."""

    def gap(r: dict[str, Any]) -> float:
        values = constraint_values(r, min_accuracy, max_latency_ms)
        scale = [
            1.0 if i == 0 and min_accuracy is not None else max(max_latency_ms or 1.0, 1e-9)
            for i in range(len(values))
        ]
        return sum(max(v, 0.0) / s for v, s in zip(values, scale, strict=True))

    return min(records, key=gap)
