"""Shared CLI output helpers (rich tables, progress bars, JSON files)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from edgekit.fileio import write_text_atomic

console = Console()
err_console = Console(stderr=True)


def table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> Table:
    t = Table(title=title, title_justify="left")
    for i, col in enumerate(columns):
        t.add_column(col, justify="left" if i == 0 else "right", no_wrap=i == 0)
    for row in rows:
        t.add_row(*(fmt(v) for v in row))
    return t


def fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e4 else f"{value:,.0f}"
    return "" if value is None else str(value)


@contextmanager
def progress_bar(description: str, total: int, *, enabled: bool = True) -> Iterator[Any]:
    """Yield ``update(done, total, message=None)``; draws a rich progress bar on stderr when enabled."""
    if not enabled:
        yield lambda done, total, message=None: None
        return
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    ) as bar:
        task = bar.add_task(description, total=total)

        def update(done: int, total: int, message: str | None = None) -> None:
            bar.update(task, completed=done, total=max(total, 1), description=message)

        yield update


@contextmanager
def stages(title: str) -> Iterator[None]:
    """Show the stages of a long operation (``edgekit.progress``) on stderr, each with its elapsed time."""
    from edgekit.progress import on_stage

    start = time.perf_counter()
    current: list[tuple[str, float]] = []

    with err_console.status(title) as status:

        def finish() -> None:
            if current:
                name, began = current.pop()
                err_console.print(f"  [green]✓[/green] {name:<22} {time.perf_counter() - began:6.1f} s")

        def begin(name: str) -> None:
            finish()
            current.append((name, time.perf_counter()))
            status.update(f"{title}: {name}…")

        with on_stage(begin):
            yield
        finish()
    err_console.print(f"  {'total':<24} {time.perf_counter() - start:6.1f} s")


def write_json(path: str | Path, data: Any) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, default=str) + "\n")
