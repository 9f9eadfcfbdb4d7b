"""A fleet table on one machine: this host, the same host over a real SSH server, and an emulated
aarch64 board (qemu user mode, scripts/make-arm64-target.sh) over SSH, profiled concurrently.

    sudo python benchmarks/devices.py [--arm-root .arm64-root]
"""

from __future__ import annotations

import argparse
import contextlib
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
from _common import table, write

import edgekit as ek
from edgekit.demo import DigitsCNN
from edgekit.devices import connect, profile_many
from edgekit.devices.loopback import loopback_sshd


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--arm-root", type=Path, default=Path(__file__).resolve().parents[1] / ".arm64-root")
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        folder = Path(tmp)
        model = ek.export(DigitsCNN().eval(), torch.rand(1, 1, 8, 8), folder / "digits_cnn.tflite").path
        (folder / "host").mkdir()
        host = stack.enter_context(loopback_sshd(folder / "host"))
        targets = [
            ("local", {}),
            (host.uri, {"key": host.key, "known_hosts": host.known_hosts, "python": sys.executable}),
        ]
        root = args.arm_root.resolve()
        if (root / "opt/edgekit/bin/python").exists():
            if subprocess.run(["mountpoint", "-q", str(root / "proc")]).returncode != 0:
                subprocess.run(["mount", "-t", "proc", "proc", str(root / "proc")], check=True)
                stack.callback(subprocess.run, ["umount", str(root / "proc")], check=False)
            forced = f'command="QEMU_CPU=cortex-a76 chroot {shlex.quote(str(root))} /bin/sh -c \\"$SSH_ORIGINAL_COMMAND\\"" '
            (folder / "arm").mkdir()
            arm = stack.enter_context(loopback_sshd(folder / "arm", authorized_prefix=forced))
            targets.append(
                (
                    arm.uri,
                    {"key": arm.key, "known_hosts": arm.known_hosts, "python": "/opt/edgekit/bin/python"},
                )
            )
            with connect(arm.uri, **targets[-1][1]) as device:
                print(f"emulated board: {device.info()}")
        results = []
        for uri, options in targets:  # one device each: connect options differ per device
            results += profile_many(
                model, [uri], connect_options=options, runs=args.runs, warmup=5, threads=1
            )
    rows = []
    for r in results:
        p = r.profile
        rows.append(
            [
                r.uri,
                p.cpu["arch"],
                " ".join(p.cpu["flags"]),
                p.runtime,
                p.delegate,
                f"{p.delegate_coverage['delegated_nodes']}/{p.delegate_coverage['total_nodes']}",
                f"{p.p50_ms:.4f}",
                f"{p.p90_ms:.4f}",
                p.extra.get("emulated"),
            ]
            if r.ok
            else [r.uri, r.error]
        )
    print(
        table(
            ["device", "arch", "flags", "runtime", "delegate", "delegated", "p50 ms", "p90 ms", "emulated"],
            rows,
        )
    )
    write(
        "devices",
        {
            "results": [
                {"uri": r.uri, "error": r.error, "profile": r.profile.to_dict() if r.ok else None}
                for r in results
            ]
        },
    )


if __name__ == "__main__":
    main()
