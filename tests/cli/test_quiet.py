"""Quiet by default: `edgekit run` prints no TensorFlow/absl/oneDNN/CUDA/torch lines; EDGEKIT_LOG=debug does.

The recipe is a short real one (1 epoch, export to ONNX and TFLite, verify, profile), so that torch,
torchao, TensorFlow and LiteRT all load and run, run as users run it: a subprocess with a clean environment.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from edgekit.logs import quiet_third_party

RECIPE = """\
name: quiet
model:
  demo: cnn
data:
  digits: true
steps:
  - step: train
    epochs: 1
  - step: export
    formats: [onnx, tflite]
  - step: verify
    min_top1_agreement: 0.9
  - step: profile
    runs: 3
    warmup: 0
"""

# edgekit's own stderr lines: its log records ("LEVEL edgekit.module: ...") and one-line CLI errors.
OWN = re.compile(r"^(DEBUG|INFO|WARNING|ERROR|CRITICAL) edgekit[.:]|^edgekit: ")


def _run(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    recipe = tmp_path / "quiet.yaml"
    recipe.write_text(RECIPE)
    clean = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "EDGEKIT_LOG")}
    return subprocess.run(
        [sys.executable, "-m", "edgekit", "run", str(recipe), "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=600,
        env=clean | env,
    )


def _foreign(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.strip() and not OWN.match(line)]


def test_run_prints_only_edgekit_lines_on_stderr(tmp_path: Path) -> None:
    result = _run(tmp_path)
    assert result.returncode == 0, result.stderr
    assert _foreign(result.stderr) == []
    assert "quiet (" in result.stdout and (tmp_path / "out" / "quiet.tflite").is_file()


@pytest.mark.slow
def test_edgekit_log_debug_keeps_third_party_and_debug_logs(tmp_path: Path) -> None:
    result = _run(tmp_path, EDGEKIT_LOG="debug")
    assert result.returncode == 0, result.stderr
    assert _foreign(result.stderr), "EDGEKIT_LOG=debug must not silence third-party logs"
    assert re.search(r"^DEBUG edgekit\.", result.stderr, re.MULTILINE)


def test_switch_only_sets_defaults_and_is_off_with_edgekit_log_debug(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "1")  # the user's own choice wins
    assert quiet_third_party() is True
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "1"
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL")
    monkeypatch.setenv("EDGEKIT_LOG", "debug")
    assert quiet_third_party() is False
    assert "TF_CPP_MIN_LOG_LEVEL" not in os.environ


def test_ek_run_is_reachable_without_loading_torch() -> None:
    """``ek.run`` quiets logs before torch loads, so reaching it must not load torch."""
    code = "import json, sys, edgekit as ek; ek.run; print(json.dumps('torch' in sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True
    )
    assert out.stdout.strip() == "false"
