"""Profiling on an emulated aarch64 Debian (qemu user mode) reached over SSH, like a real board.

Needs the root built by scripts/make-arm64-target.sh (~9 minutes); skipped with that reason otherwise.
An authorized_keys forced command lands every SSH command inside the aarch64 root.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edgekit.devices import connect
from edgekit.devices.loopback import loopback_sshd

ROOT = Path(os.environ.get("EDGEKIT_ARM64_ROOT", Path(__file__).resolve().parents[2] / ".arm64-root"))
pytestmark = [
    pytest.mark.arm,
    pytest.mark.skipif(
        not (ROOT / "opt/edgekit/bin/python").exists(),
        reason=f"no aarch64 root at {ROOT}: run scripts/make-arm64-target.sh",
    ),
    pytest.mark.skipif(
        not Path("/proc/sys/fs/binfmt_misc/qemu-aarch64").exists(),
        reason="qemu-aarch64 binfmt_misc handler not registered (scripts/make-arm64-target.sh does it)",
    ),
]


@pytest.fixture(scope="module")
def arm_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    import subprocess

    forced = f'command="QEMU_CPU=cortex-a76 chroot {shlex.quote(str(ROOT))} /bin/sh -c \\"$SSH_ORIGINAL_COMMAND\\"" '
    proc = ROOT / "proc"
    mounted = subprocess.run(["mountpoint", "-q", str(proc)]).returncode == 0
    if not mounted:  # XNNPACK reads /proc/cpuinfo; without it the delegate silently does not start
        subprocess.run(["mount", "-t", "proc", "proc", str(proc)], check=True)
    try:
        with loopback_sshd(tmp_path_factory.mktemp("armsshd"), authorized_prefix=forced) as server:
            yield server
    finally:
        if not mounted:
            subprocess.run(["umount", str(proc)], check=False)


def test_agent_runs_on_aarch64_with_neon_and_xnnpack(
    arm_server: Any, tflite_file: Path, tmp_path: Path
) -> None:
    import json

    with connect(
        arm_server.uri,
        key=arm_server.key,
        known_hosts=arm_server.known_hosts,
        python="/opt/edgekit/bin/python",
        command_timeout=900,
    ) as device:
        info = device.info()
        profile = device.profile(tflite_file, runs=20, warmup=2, threads=1)
    assert info.arch == "aarch64" and info.emulated
    assert {"neon", "dotprod"} <= set(info.cpu_flags), "QEMU_CPU=cortex-a76 advertises NEON + dot product"
    assert profile.cpu["arch"] == "aarch64" and profile.delegate == "xnnpack"
    assert profile.delegate_coverage["delegated_nodes"] == profile.delegate_coverage["total_nodes"] > 0
    assert profile.extra["emulated"] is True and profile.runtime.startswith("ai-edge-litert")
    (Path(os.environ.get("EDGEKIT_ARM_RESULT", tmp_path)) / "arm_profile.json").write_text(
        json.dumps(profile.to_dict())
    )
