"""A real OpenSSH server on 127.0.0.1 (free port, generated host and user keys), started per session."""

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

import pytest

SSHD = shutil.which("sshd") or ("/usr/sbin/sshd" if Path("/usr/sbin/sshd").exists() else None)


@dataclass(frozen=True)
class SSHServer:
    port: int
    user: str
    key: Path
    known_hosts: Path
    host_pub: Path
    folder: Path

    @property
    def uri(self) -> str:
        return f"ssh://{self.user}@127.0.0.1:{self.port}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def keygen(path: Path) -> Path:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return path


@pytest.fixture(name="keygen")
def keygen_fixture() -> object:
    """``keygen(path) -> path``: a fresh ed25519 key pair."""
    return keygen


@contextlib.contextmanager
def sshd(folder: Path, authorized_prefix: str = "") -> Iterator[SSHServer]:
    """A real sshd on 127.0.0.1 with generated keys; ``authorized_prefix`` goes before the user key
    (e.g. a forced ``command="..."``)."""
    if SSHD is None:
        pytest.skip("OpenSSH server not installed (scripts/install-sysdeps.sh installs openssh-server)")
    host_key = keygen(folder / "host_key")
    user_key = keygen(folder / "user_key")
    (folder / "authorized_keys").write_text(authorized_prefix + (folder / "user_key.pub").read_text())
    os.chmod(folder / "authorized_keys", 0o600)
    port = _free_port()
    config = folder / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {host_key}\nPidFile {folder / 'sshd.pid'}\n"
        f"AuthorizedKeysFile {folder / 'authorized_keys'}\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
        "PubkeyAuthentication yes\nPermitRootLogin prohibit-password\nUsePAM no\nStrictModes no\n"
        "Subsystem sftp internal-sftp\nLogLevel ERROR\n"
    )
    Path("/run/sshd").mkdir(exist_ok=True)
    proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stderr=subprocess.PIPE)
    deadline = time.time() + 10
    while time.time() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        if proc.poll() is not None:
            pytest.fail(f"sshd did not start: {proc.stderr.read().decode()}")
        time.sleep(0.1)
    host_pub = folder / "host_key.pub"
    known = folder / "known_hosts"
    known.write_text(f"[127.0.0.1]:{port} {' '.join(host_pub.read_text().split()[:2])}\n")
    user = (
        os.environ.get("USER") or subprocess.run(["id", "-un"], capture_output=True, text=True).stdout.strip()
    )
    try:
        yield SSHServer(port, user, user_key, known, host_pub, folder)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="session")
def ssh_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SSHServer]:
    with sshd(tmp_path_factory.mktemp("sshd")) as server:
        yield server
