"""Profiling over a real SSH server: end to end, host keys, timeouts, missing dependencies, cleanup."""

from __future__ import annotations

import glob
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from edgekit.devices import connect
from edgekit.errors import (
    DeviceConnectionError,
    DeviceError,
    HostKeyError,
    ModelFileError,
    RemoteDependencyError,
)
from edgekit.runtime import Model


def _remote_dirs() -> set[str]:
    return set(glob.glob("/tmp/edgekit.*"))


def _connect(server: Any, **kwargs):
    options = {"key": server.key, "known_hosts": server.known_hosts, "python": sys.executable, **kwargs}
    return connect(server.uri, **options)


def test_profile_over_ssh_matches_the_local_profile(ssh_server: Any, tflite_file: Path) -> None:
    before = _remote_dirs()
    with _connect(ssh_server) as device:
        remote = device.profile(tflite_file, runs=20, warmup=2, threads=1)
        info = device.info()
    local = Model.load(tflite_file, threads=1).benchmark(runs=20, warmup=2)
    assert set(remote.to_dict()) == set(local.to_dict())
    assert (
        remote.backend == local.backend == "litert" and remote.delegate == "xnnpack" and remote.threads == 1
    )
    assert remote.runs == 20 and 0 < remote.p50_ms < 1000 and remote.model_bytes == local.model_bytes
    assert remote.extra["device"] == ssh_server.uri and remote.extra["sha256"]
    assert remote.cpu["arch"] == info.arch and "numpy" in info.runtimes
    assert _remote_dirs() == before, "the remote temporary folder is removed"


def test_unknown_host_key_is_refused_unless_trusted_on_first_use(ssh_server: Any, tmp_path: Path) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    with pytest.raises(HostKeyError, match="unknown host key"):
        _connect(ssh_server, known_hosts=empty)
    with _connect(ssh_server, known_hosts=empty, trust_on_first_use=True):
        pass
    assert str(ssh_server.port) in empty.read_text()


def test_wrong_host_key_is_refused(ssh_server: Any, tmp_path: Path, keygen: Any) -> None:
    other = keygen(tmp_path / "other")
    wrong = tmp_path / "known_hosts"
    wrong.write_text(
        f"[127.0.0.1]:{ssh_server.port} {' '.join(Path(str(other) + '.pub').read_text().split()[:2])}\n"
    )
    with pytest.raises(HostKeyError, match="does not match"):
        _connect(ssh_server, known_hosts=wrong)


def test_wrong_user_key_is_permission_denied(ssh_server: Any, tmp_path: Path, keygen: Any) -> None:
    with pytest.raises(DeviceConnectionError, match="permission denied"):
        _connect(ssh_server, key=keygen(tmp_path / "stranger"))


def test_missing_key_file(ssh_server: Any, tmp_path: Path) -> None:
    with pytest.raises(DeviceConnectionError, match="key file not found"):
        _connect(ssh_server, key=tmp_path / "nope")


def test_silent_port_times_out_within_the_configured_seconds(ssh_server: Any) -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    stop = threading.Event()
    threading.Thread(target=lambda: (server.accept(), stop.wait(10)), daemon=True).start()
    start = time.monotonic()
    try:
        with pytest.raises(DeviceConnectionError):
            connect(
                f"ssh://x@127.0.0.1:{port}",
                key=ssh_server.key,
                known_hosts=ssh_server.known_hosts,
                connect_timeout=1.5,
            )
        assert time.monotonic() - start < 6
    finally:
        stop.set()
        server.close()


def test_closed_port_is_a_connection_error(ssh_server: Any) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DeviceConnectionError, match="cannot connect"):
        connect(f"ssh://x@127.0.0.1:{port}", key=ssh_server.key, known_hosts=ssh_server.known_hosts)


def test_remote_without_numpy_names_what_to_install(ssh_server: Any, tflite_file: Path) -> None:
    bare = "/usr/bin/python3"
    if not Path(bare).exists():
        pytest.skip("no system python3 without numpy to act as a bare device")
    with (
        _connect(ssh_server, python=bare) as device,
        pytest.raises(RemoteDependencyError, match="pip install numpy"),
    ):
        device.profile(tflite_file, runs=2)


def test_missing_remote_python(ssh_server: Any, tflite_file: Path) -> None:
    with _connect(ssh_server, python="/nonexistent/python3") as device, pytest.raises(RemoteDependencyError):
        device.profile(tflite_file, runs=2)


def test_non_model_is_rejected_before_pushing(ssh_server: Any, tmp_path: Path) -> None:
    fake = tmp_path / "fake.tflite"
    fake.write_bytes(b"not a model at all" * 10)
    before = _remote_dirs()
    with _connect(ssh_server) as device, pytest.raises(ModelFileError):
        device.profile(fake)
    assert _remote_dirs() == before


def test_a_run_that_outlives_the_command_timeout_fails_and_cleans_up(
    ssh_server: Any, tflite_file: Path
) -> None:
    before = _remote_dirs()
    with (
        _connect(ssh_server, command_timeout=2.0) as device,
        pytest.raises(DeviceError, match="did not finish"),
    ):
        device.profile(tflite_file, runs=400_000, warmup=0)
    assert _remote_dirs() == before


def test_delegate_error_crosses_the_connection_as_the_same_type(ssh_server: Any, tflite_file: Path) -> None:
    from edgekit.errors import DelegateUnavailableError

    with _connect(ssh_server) as device, pytest.raises(DelegateUnavailableError) as err:
        device.profile(tflite_file, delegate="gpu", runs=2)
    assert "xnnpack" in err.value.available
