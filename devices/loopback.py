"""A throwaway OpenSSH server on 127.0.0.1 with generated keys: a real SSH device for tests, demos and
benchmarks on one machine (optionally landing every command in a chroot, e.g. an emulated aarch64 root).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from edgekit.errors import DeviceError


@dataclass(frozen=True)
class LoopbackServer:
    port: int
    user: str
    key: Path
    known_hosts: Path
    host_pub: Path
    folder: Path

    @property
    def uri(self) -> str:
        return f"ssh://{self.user}@127.0.0.1:{self.port}"


def sshd_binary() -> str | None:
    return shutil.which("sshd") or ("/usr/sbin/sshd" if Path("/usr/sbin/sshd").exists() else None)


def keygen(path: Path) -> Path:
    """A fresh ed25519 key pair at ``path`` / ``path.pub``."""
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def loopback_sshd(folder: Path, *, authorized_prefix: str = "") -> Iterator[LoopbackServer]:
    """Run sshd on a free loopback port until the block ends. ``authorized_prefix`` goes before the
    user key in authorized_keys (e.g. ``command="chroot ROOT /bin/sh -c \\"$SSH_ORIGINAL_COMMAND\\"" ``)."""
    binary = sshd_binary()
    if binary is None:
        raise DeviceError("OpenSSH server not installed: apt-get install openssh-server")
    host_key = keygen(folder / "host_key")
    user_key = keygen(folder / "user_key")
    authorized = folder / "authorized_keys"
    authorized.write_text(authorized_prefix + (folder / "user_key.pub").read_text())
    os.chmod(authorized, 0o600)
    port = _free_port()
    config = folder / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {host_key}\nPidFile {folder / 'sshd.pid'}\n"
        f"AuthorizedKeysFile {authorized}\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
        "PubkeyAuthentication yes\nPermitRootLogin prohibit-password\nUsePAM no\nStrictModes no\nLogLevel ERROR\n"
    )
    Path("/run/sshd").mkdir(exist_ok=True)
    proc = subprocess.Popen([binary, "-D", "-e", "-f", str(config)], stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 10
        while True:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if proc.poll() is not None or time.time() > deadline:
                raise DeviceError(f"sshd did not start: {proc.stderr.read().decode() if proc.stderr else ''}")
            time.sleep(0.1)
        known = folder / "known_hosts"
        known.write_text(
            f"[127.0.0.1]:{port} {' '.join((folder / 'host_key.pub').read_text().split()[:2])}\n"
        )
        user = (
            os.environ.get("USER")
            or subprocess.run(["id", "-un"], capture_output=True, text=True).stdout.strip()
        )
        yield LoopbackServer(port, user, user_key, known, folder / "host_key.pub", folder)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
