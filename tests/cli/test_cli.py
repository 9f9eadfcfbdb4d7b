"""The edgekit command line, run as users run it: a subprocess, exit codes, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def edgekit(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "edgekit", *args], capture_output=True, text=True, timeout=600
    )


def test_inspect_shows_io_quantization_and_ops(tflite_file: Path, tmp_path: Path) -> None:
    result = edgekit("inspect", str(tflite_file), "--json", str(tmp_path / "i.json"))
    assert result.returncode == 0, result.stderr
    assert "CONV_2D" in result.stdout and "1x1x8x8" in result.stdout
    info = json.loads((tmp_path / "i.json").read_text())
    assert info["inputs"][0]["file_shape"] == [1, 8, 8, 1] and info["layout_metadata"] is True


def test_profile_prints_a_table_and_writes_json(onnx_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "p.json"
    result = edgekit(
        "profile", str(onnx_file), "--threads", "1", "--runs", "20", "--json", str(out), "--quiet"
    )
    assert result.returncode == 0, result.stderr
    assert "p50 / p90 / p99" in result.stdout and "per-op time" in result.stdout
    profile = json.loads(out.read_text())
    assert profile["runs"] == 20 and profile["threads"] == 1 and profile["ops"]


def test_errors_are_one_line_and_non_zero(tmp_path: Path) -> None:
    result = edgekit("profile", str(tmp_path / "missing.tflite"))
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0 and "model file not found" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_threads_and_delegate(tflite_file: Path) -> None:
    result = edgekit("profile", str(tflite_file), "--threads", "0")
    assert result.returncode == 1 and "positive integer" in result.stderr
    result = edgekit("profile", str(tflite_file), "--delegate", "gpu")
    assert (
        result.returncode == 1 and "DelegateUnavailable" not in result.stderr and "available" in result.stderr
    )


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    result = edgekit("--debug", "inspect", str(tmp_path / "missing.onnx"))
    assert result.returncode != 0 and "Traceback" in result.stderr


def test_convert_and_compare(onnx_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "c.tflite"
    result = edgekit("convert", str(onnx_file), str(out))
    assert result.returncode == 0, result.stderr
    result = edgekit("compare", str(onnx_file), str(out), "--json", str(tmp_path / "cmp.json"))
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "cmp.json").read_text())["top1_agreement"] == 1.0


def test_devices_lists_specs() -> None:
    result = edgekit("devices")
    assert result.returncode == 0 and "raspberry-pi-5" in result.stdout


def test_run_rejects_a_bad_recipe_with_its_line(tmp_path: Path) -> None:
    recipe = tmp_path / "bad.yaml"
    recipe.write_text("model:\n  demo: cnn\ndata:\n  digits: true\nsteps:\n  - step: train\n    speed: 11\n")
    result = edgekit("run", str(recipe), "--out", str(tmp_path / "o"))
    assert result.returncode == 1 and "bad.yaml:7: steps.0.speed" in result.stderr
    assert not (tmp_path / "o").exists()
