"""Device targets failing during a search: the trial fails with the connector's cause, the search goes on.

No Android device or emulator exists on this machine, so the adb test drives the real ``adb`` program
against a server with no device (its own port, stopped at the end); the "device lost mid-search" test
stops a real loopback sshd after the first trial has been profiled through it.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

import edgekit as ek

FAST = {"prune_ratio": [0.0, 0.0], "quant": ["float"]}  # every trial reuses the first one's files


@pytest.fixture
def adb_server(monkeypatch: pytest.MonkeyPatch, helper: Any) -> Any:
    """A real adb server on a free port of its own (no device attached), killed afterwards."""
    adb = shutil.which("adb")
    if adb is None:
        pytest.skip("adb not installed (apt-get install adb)")
    port = str(helper.free_port())
    monkeypatch.setenv("ANDROID_ADB_SERVER_PORT", port)
    yield adb
    subprocess.run([adb, "-P", port, "kill-server"], capture_output=True, timeout=30)


def test_adb_target_without_a_device_fails_each_trial_with_the_cause(
    adb_server: str, base: Any, digits: Any, tmp_path: Path, helper: Any
) -> None:
    result = ek.search(
        base[0],
        digits,
        FAST,
        {**helper.CONFIG, "study": "adb"},
        out=tmp_path,
        budget=2,
        target="adb://EMULATOR-NONE",
    )
    assert [t["state"] for t in result.trials] == ["failed", "failed"]  # the search went on
    for t in result.trials:
        assert t["error"].startswith("DeviceConnectionError: no adb device 'EMULATOR-NONE' is connected")
    assert "no adb device" in (tmp_path / "search.html").read_text()


@pytest.mark.slow
def test_device_lost_mid_search_fails_later_trials_and_keeps_the_first(
    base: Any, digits: Any, tmp_path: Path, helper: Any
) -> None:
    from edgekit.devices.loopback import loopback_sshd, sshd_binary

    if sshd_binary() is None:
        pytest.skip("OpenSSH server not installed (scripts/install-sysdeps.sh installs openssh-server)")
    (tmp_path / "sshd").mkdir()
    with contextlib.ExitStack() as stack:
        server = stack.enter_context(loopback_sshd(tmp_path / "sshd"))

        def unplug_after_first(done: int, total: int, message: str) -> None:
            if done == 1:
                stack.close()  # sshd stops: the board went away between trials

        result = helper.ssh_search(
            server,
            base[0],
            digits,
            FAST,
            "unplugged",
            tmp_path / "out",
            budget=3,
            progress=unplug_after_first,
        )
    assert [t["state"] for t in result.trials] == ["complete", "failed", "failed"]
    assert all(t["error"].startswith("DeviceConnectionError") for t in result.trials[1:])
    assert result.chosen is not None and result.chosen["number"] == 0  # the measured trial is kept
