"""``search.html``: the Pareto plot, the front as a table, the chosen trial and every trial's status."""

from __future__ import annotations

import base64
import html
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from edgekit.fileio import write_text_atomic

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem auto;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:.5rem 0 1.5rem;width:100%;font-size:.85rem}
th,td{border-bottom:1px solid #ddd;padding:.3rem .5rem;text-align:right} th:first-child,td:first-child{text-align:left}
th{background:#f3f5f7} .fail{color:#b00020} img{max-width:100%;border:1px solid #eee} .meta{color:#666}
"""


def _cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.4g}"
    return html.escape(str(value))


def _params(p: dict[str, Any]) -> str:
    parts = []
    if p.get("target_macs") is not None:
        parts.append(f"MACs≤{p['target_macs']:.0%}")
    elif p.get("prune_ratio"):
        parts.append(f"prune {p['prune_ratio']:.2f}")
    if p.get("target_macs") is not None or p.get("prune_ratio"):
        parts.append(f"{p['importance']}/{p['scope']}")
    if p.get("finetune_epochs"):
        parts.append(f"ft {p['finetune_epochs']}" + (" KD" if p.get("distill") else ""))
    parts.append(p["quant"] + (f" {p['calibrator']}" if p["quant"] != "float" else ""))
    if p.get("keep_float"):
        parts.append(f"keep {p['keep_float']} float")
    if p.get("resolution"):
        parts.append(f"{p['resolution']}px")
    return ", ".join(parts)


def _row(r: dict[str, Any]) -> list[str]:
    return [
        str(r["number"]),
        _params(r["params"]) if r.get("params") else "–",
        _cell(None if r.get("accuracy") is None else f"{r['accuracy']:.2%}"),
        _cell(r.get("p50_ms")),
        _cell(r.get("p90_ms")),
        _cell(None if r.get("size_bytes") is None else f"{r['size_bytes'] / 1024:.1f} KiB"),
        _cell(r.get("peak_memory_mb")),
        _cell(None if r.get("seconds") is None else f"{r['seconds']:.1f}"),
        _cell(", ".join(r.get("reused", [])) or None),
    ]


HEAD = ["trial", "configuration", "accuracy", "p50 ms", "p90 ms", "size", "peak MB", "s", "reused"]


def _table(rows: list[list[str]], headers: list[str]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def write_search_report(result: Any, path: str | Path, baselines: list[dict[str, Any]] | None = None) -> Path:
    """Write the self-contained HTML report of a :class:`~edgekit.autocompress.SearchResult`."""
    from edgekit.reports import plots

    done = [r for r in result.trials if r["state"] == "complete"]
    failed = [r for r in result.trials if r["state"] == "failed"]
    marks = [{"label": b["label"], "ms": b["p50_ms"], "accuracy": b["accuracy"]} for b in (baselines or [])]
    if result.chosen is not None:
        marks.append(
            {
                "label": f"chosen #{result.chosen['number']}",
                "ms": result.chosen["p50_ms"],
                "accuracy": result.chosen["accuracy"],
            }
        )
    png = plots.pareto(
        [{"ms": r["p50_ms"], "accuracy": r["accuracy"], "bytes": r["size_bytes"]} for r in done],
        [{"ms": r["p50_ms"], "accuracy": r["accuracy"], "bytes": r["size_bytes"]} for r in result.front],
        marks,
    )
    img = (
        f'<img alt="Pareto front" src="data:image/png;base64,{base64.b64encode(png).decode()}">'
        if png
        else ""
    )
    constraint = []
    if result.config.get("min_accuracy") is not None:
        constraint.append(f"fastest with accuracy ≥ {result.config['min_accuracy']:.2%}")
    if result.config.get("max_latency_ms") is not None:
        constraint.append(f"most accurate with p50 ≤ {result.config['max_latency_ms']} ms")
    chosen = (
        _table([_row(result.chosen)], HEAD)
        + f"<p>exported: {html.escape(', '.join(map(str, result.artifacts.values())))}</p>"
        if result.chosen is not None
        else '<p class="fail">no trial met the constraint</p>'
    )
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>edgekit search {html.escape(result.study)}</title>",
        f"<style>{CSS}</style></head><body>",
        f"<h1>Compression search: {html.escape(result.study)}</h1>",
        f"<p class='meta'>target {html.escape(result.config['target'])} · objectives "
        f"{html.escape(', '.join(result.config['objectives']))} · {len(done)} complete, {len(failed)} failed trials"
        f" · {datetime.now(timezone.utc):%Y-%m-%d %H:%M UTC}</p>",
        img,
        f"<h2>Chosen trial{(' (' + html.escape('; '.join(constraint)) + ')') if constraint else ''}</h2>",
        chosen,
        "<h2>Pareto front</h2>",
        _table([_row(r) for r in result.front], HEAD),
    ]
    if baselines:
        parts += [
            "<h2>Baselines (same target, same run)</h2>",
            _table(
                [
                    [
                        html.escape(b["label"]),
                        _cell(f"{b['accuracy']:.2%}"),
                        _cell(b["p50_ms"]),
                        _cell(f"{b['size_bytes'] / 1024:.1f} KiB"),
                    ]
                    for b in baselines
                ],
                ["baseline", "accuracy", "p50 ms", "size"],
            ),
        ]
    parts += ["<h2>All trials</h2>", _table([_row(r) for r in done], HEAD)]
    if failed:
        parts += [
            "<h2>Failed trials</h2>",
            _table(
                [
                    [
                        str(r["number"]),
                        _params(r["params"]) if r.get("params") else "–",
                        f"<span class='fail'>{html.escape(r.get('error') or '')}</span>",
                    ]
                    for r in failed
                ],
                ["trial", "configuration", "cause"],
            ),
        ]
    parts.append("</body></html>")
    return write_text_atomic(path, "\n".join(parts))
