"""``edgekit devices``, run as users run it: a subprocess, a table, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def edgekit(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "edgekit", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "240"},  # a wide terminal: rich wraps table cells at the width
    )


def test_devices_lists_the_shipped_specs() -> None:
    result = edgekit("devices")
    assert result.returncode == 0, result.stderr
    for name in ("raspberry-pi-4", "raspberry-pi-5", "jetson-orin-nano", "android-phone", "x86_64-host"):
        assert name in result.stdout
    assert "Cortex-A76" in result.stdout and "tensorrt" in result.stdout


def test_fleet_table_keeps_the_working_device_and_exits_non_zero(tflite_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "fleet.json"
    result = edgekit(
        "devices", "profile", str(tflite_file), "local", "adb://NOSUCH", "--runs", "3", "--threads", "1",
        "--json", str(out),
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert "xnnpack" in result.stdout and "no adb device" in result.stdout
    rows = json.loads(out.read_text())
    assert [r["uri"] for r in rows] == ["local", "adb://NOSUCH"]
    assert rows[0]["profile"]["runs"] == 3 and rows[0]["error"] is None
    assert rows[1]["profile"] is None and "NOSUCH" in rows[1]["error"]
