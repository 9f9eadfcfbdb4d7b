"""SSH transport on paramiko: strict host keys by default, key authentication, timeouts."""

from __future__ import annotations

import os
from pathlib import Path

from edgekit.devices.connectors.base import Transport, quote
from edgekit.devices.uri import DeviceURI
from edgekit.errors import DeviceConnectionError, DeviceError, HostKeyError


class SSHTransport(Transport):
    """Commands over an SSH session; files streamed through the same session."""

    def __init__(
        self,
        uri: DeviceURI,
        *,
        key: str | os.PathLike[str] | None = None,
        known_hosts: str | os.PathLike[str] | None = None,
        trust_on_first_use: bool = False,
        connect_timeout: float = 10.0,
        python: str = "python3",
    ) -> None:
        import paramiko

        self.uri = str(uri)
        self.python = python
        if key is not None and not Path(key).is_file():
            raise DeviceConnectionError(f"SSH key file not found: {key}")
        known = Path(known_hosts) if known_hosts else Path.home() / ".ssh" / "known_hosts"
        client = paramiko.SSHClient()
        if known.exists():
            client.load_host_keys(str(known))
        if trust_on_first_use:
            known.parent.mkdir(parents=True, exist_ok=True)
            known.touch(exist_ok=True)
            client.load_host_keys(str(known))  # AutoAddPolicy saves new keys into the loaded file
            client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
        else:
            client.set_missing_host_key_policy(paramiko.RejectPolicy())
        user = uri.user or os.environ.get("USER") or "root"
        try:
            client.connect(
                uri.host,
                port=uri.port or 22,
                username=user,
                key_filename=str(key) if key else None,
                timeout=connect_timeout,
                banner_timeout=connect_timeout,
                auth_timeout=connect_timeout,
                allow_agent=False,
                look_for_keys=key is None,
            )
        except paramiko.BadHostKeyException as exc:
            raise HostKeyError(
                f"{self.uri}: the host key does not match {known} — the device was reinstalled or someone is in the "
                "middle; verify the key and update known_hosts"
            ) from exc
        except paramiko.SSHException as exc:
            if "not found in known_hosts" in str(exc):
                raise HostKeyError(
                    f"{self.uri}: unknown host key (not in {known}); add it with ssh-keyscan after checking it, or "
                    "pass trust_on_first_use=True"
                ) from exc
            if isinstance(exc, paramiko.AuthenticationException):
                raise DeviceConnectionError(
                    f"{self.uri}: permission denied for user {user!r} with key {key}"
                ) from exc
            raise DeviceConnectionError(f"{self.uri}: SSH failed: {exc}") from exc
        except TimeoutError as exc:
            raise DeviceConnectionError(f"{self.uri}: no answer within {connect_timeout:g} s") from exc
        except OSError as exc:
            raise DeviceConnectionError(f"{self.uri}: cannot connect: {exc}") from exc
        if trust_on_first_use:
            client.save_host_keys(str(known))
        self._client = client

    def run(self, argv: list[str], timeout: float) -> tuple[int, str, str]:
        try:
            _, stdout, stderr = self._client.exec_command(quote(argv), timeout=timeout)
            out = stdout.read().decode(errors="replace")
            err = stderr.read().decode(errors="replace")
            return stdout.channel.recv_exit_status(), out, err
        except TimeoutError as exc:
            raise DeviceError(f"{self.uri}: `{argv[0]}` did not finish within {timeout:g} s") from exc
        except Exception as exc:  # paramiko raises SSHException / EOFError when the link drops
            raise DeviceError(f"{self.uri}: the connection dropped while running `{argv[0]}`: {exc}") from exc

    def put(self, local: Path, remote: str) -> None:
        """Stream the file into ``cat > remote``: works without SFTP, also behind a forced command."""
        try:
            stdin, stdout, stderr = self._client.exec_command(quote(["sh", "-c", 'cat > "$0"', remote]))
            with local.open("rb") as fh:
                while chunk := fh.read(1 << 20):
                    stdin.write(chunk)
            stdin.channel.shutdown_write()
            status = stdout.channel.recv_exit_status()
        except Exception as exc:
            raise DeviceError(f"{self.uri}: copying {local.name} failed: {exc}") from exc
        if status != 0:
            raise DeviceError(
                f"{self.uri}: copying {local.name} failed: {stderr.read().decode(errors='replace').strip()}"
            )

    def close(self) -> None:
        self._client.close()
