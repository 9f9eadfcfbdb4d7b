"""A self-contained HTML report: tables per stage and embedded PNG plots (no network)."""

from __future__ import annotations

import base64
import html
import platform
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from edgekit.fileio import write_text_atomic
from edgekit.reports import plots

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem auto;max-width:1000px;color:#222}
h1{margin-bottom:.2rem} .meta{color:#666;margin-bottom:1.5rem}
table{border-collapse:collapse;margin:.5rem 0 1.5rem;width:100%;font-size:.9rem}
th,td{border-bottom:1px solid #ddd;padding:.35rem .6rem;text-align:right} th:first-child,td:first-child{text-align:left}
th{background:#f3f5f7} .fail{color:#b00020;font-weight:600} .ok{color:#0a7d32;font-weight:600}
figure{margin:1rem 0} img{max-width:100%;border:1px solid #eee}
"""


def _img(png: bytes | None, alt: str) -> str:
    if png is None:
        return ""
    data = base64.b64encode(png).decode()
    return f'<figure><img alt="{html.escape(alt)}" src="data:image/png;base64,{data}"></figure>'


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _fmt(value: Any, spec: str = "") -> str:
    if value is None:
        return "–"
    return html.escape(format(value, spec) if spec else str(value))


def render(summary: Any) -> str:
    """The report's HTML for a :class:`~edgekit.recipes.RunSummary`."""
    stages = summary.stages
    status = (
        '<span class="ok">all steps succeeded</span>'
        if summary.ok
        else (f'<span class="fail">failed: {html.escape(", ".join(summary.failed_steps))}</span>')
    )
    rows = []
    for s in stages:
        rows.append(
            [
                html.escape(s.name) + (" (cached)" if s.cached else ""),
                _fmt(None if s.accuracy is None else s.accuracy * 100, ".2f"),
                _fmt(s.params, ","),
                _fmt(s.macs, ","),
                _fmt(None if s.size_bytes is None else s.size_bytes / 1024, ".1f"),
                _fmt(s.seconds, ".1f"),
                f'<span class="fail">{html.escape(s.error)}</span>'
                if s.error
                else '<span class="ok">ok</span>',
            ]
        )
    parts = [
        f"<h2>Stages</h2>{_table(['step', 'accuracy %', 'params', 'MACs', 'file KiB', 'seconds', 'status'], rows)}"
    ]

    latency_rows, samples, points, op_figs = [], {}, [], []
    verify = next((s for s in stages if s.step == "verify" and not s.error), None)
    accuracies = verify.parity.get("accuracy", {}) if verify else {}
    for s in stages:
        for label, prof in s.latency.items():
            if "error" in prof:
                latency_rows.append(
                    [
                        html.escape(label),
                        "–",
                        "–",
                        "–",
                        "–",
                        "–",
                        f'<span class="fail">{html.escape(prof["error"])}</span>',
                    ]
                )
                continue
            latency_rows.append(
                [
                    html.escape(label),
                    _fmt(prof["p50_ms"], ".3f"),
                    _fmt(prof["p90_ms"], ".3f"),
                    _fmt(prof["p99_ms"], ".3f"),
                    html.escape(f"{prof['backend']} / {prof['delegate']}"),
                    html.escape(prof["runtime"]),
                    _fmt(prof.get("threads") or "default"),
                ]
            )
            samples[label] = prof.get("samples_ms", [])
            fmt = label.split("@")[0]
            points.append(
                {
                    "label": label,
                    "ms": prof["p50_ms"],
                    "accuracy": accuracies.get(fmt),
                    "bytes": prof["model_bytes"],
                }
            )
            if prof.get("ops"):
                op_figs.append(
                    _img(plots.op_times(prof["ops"], f"per-op time, {label} (ONNX Runtime profiler)"), label)
                )
    if latency_rows:
        parts.append(
            "<h2>Latency</h2>"
            + _table(
                ["model@device", "p50 ms", "p90 ms", "p99 ms", "backend / delegate", "runtime", "threads"],
                latency_rows,
            )
        )
    if verify:
        parity = verify.parity.get("onnx_vs_tflite")
        acc_rows = [[html.escape(k), _fmt(v * 100, ".2f")] for k, v in accuracies.items()]
        parts.append("<h2>Verification (held-out split)</h2>" + _table(["file", "accuracy %"], acc_rows))
        if parity:
            parts.append(
                _table(
                    ["ONNX vs TFLite", "value"],
                    [
                        ["top-1 agreement", _fmt(parity["top1_agreement"] * 100, ".2f") + " %"],
                        ["max abs logit difference", _fmt(parity["max_abs"], ".4g")],
                        ["cosine (min)", _fmt(parity["cosine_min"], ".6f")],
                        ["samples", _fmt(parity["n"])],
                    ],
                )
            )
    stage_acc = [(s.step, s.accuracy) for s in stages if s.accuracy is not None and s.step != "verify"]
    stage_acc += [(f"{k} file", v) for k, v in accuracies.items()]
    parts.append("<h2>Plots</h2>")
    parts.append(_img(plots.stage_accuracy(stage_acc), "accuracy after each stage"))
    parts.append(_img(plots.accuracy_latency_size(points), "accuracy vs latency vs size"))
    parts.append(_img(plots.latency_distribution(samples), "latency distribution"))
    prune = next((s for s in stages if s.step == "prune" and s.layers), None)
    if prune:
        parts.append(_img(plots.channels(prune.layers), "channels per layer before and after pruning"))
    parts.extend(op_figs)
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    meta = f"{when} · {html.escape(platform.machine())} · {html.escape(platform.processor() or platform.platform())} · {summary.seconds:.0f} s · {status}"
    return (
        f"<!doctype html><html lang=en><head><meta charset=utf-8><title>edgekit report: {html.escape(summary.recipe)}"
        f"</title><style>{CSS}</style></head><body><h1>edgekit report: {html.escape(summary.recipe)}</h1>"
        f"<div class=meta>{meta}</div>{''.join(parts)}</body></html>"
    )


def write_report(summary: Any, path: str | Path) -> Path:
    """Write the report atomically and return its path."""
    write_text_atomic(path, render(summary))
    return Path(path)
