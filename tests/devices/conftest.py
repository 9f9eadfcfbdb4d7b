"""A real OpenSSH server on 127.0.0.1 (free port, generated host and user keys), started per session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from edgekit.devices.loopback import LoopbackServer, keygen, loopback_sshd, sshd_binary


@pytest.fixture(name="keygen")
def keygen_fixture() -> object:
    """``keygen(path) -> path``: a fresh ed25519 key pair."""
    return keygen


@pytest.fixture(scope="session")
def ssh_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopbackServer]:
    if sshd_binary() is None:
        pytest.skip("OpenSSH server not installed (scripts/install-sysdeps.sh installs openssh-server)")
    with loopback_sshd(tmp_path_factory.mktemp("sshd")) as server:
        yield server
