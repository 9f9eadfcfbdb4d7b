"""``edgekit search``: a real search from a YAML file, --resume, and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SEARCH = """\
model: {demo: cnn, epochs: 1, widths: [8, 16, 16]}
data: {digits: true}
space:
  prune_ratio: [0.0, 0.0]
  quant: [float]
config:
  budget: 1
  runs: 10
  warmup: 1
"""


def _edgekit(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "edgekit", *args], capture_output=True, text=True, timeout=600
    )


def test_invalid_search_file_is_one_line_with_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(SEARCH.replace("quant: [float]", "quant: [float, int3]"))
    done = _edgekit("search", str(path), "--out", str(tmp_path / "out"))
    assert done.returncode == 1
    assert (
        f"{path}:5: quant: unknown value 'int3'" in done.stderr and len(done.stderr.strip().splitlines()) == 1
    )
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_search_then_resume(tmp_path: Path) -> None:
    path, out = tmp_path / "search.yaml", tmp_path / "out"
    path.write_text(SEARCH)
    first = _edgekit("search", str(path), "--out", str(out), "--quiet")
    assert first.returncode == 0, first.stderr
    assert "Pareto front (1 complete, 0 failed trials)" in first.stdout and (out / "best.tflite").is_file()
    again = _edgekit("search", str(path), "--out", str(out), "--quiet", "--budget", "2")
    assert again.returncode == 1 and "--resume" in again.stderr
    resumed = _edgekit("search", str(path), "--out", str(out), "--quiet", "--budget", "2", "--resume")
    assert resumed.returncode == 0, resumed.stderr
    trials = json.loads((out / "search.json").read_text())["trials"]
    assert [t["number"] for t in trials] == [0, 1] and trials[1]["reused"] == ["compress", "export"]
