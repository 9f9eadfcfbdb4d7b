"""A throw-away PostgreSQL server on 127.0.0.1 for tests and benchmarks of multi-worker searches.

Uses Debian's server binaries (``apt-get install postgresql``); data and socket live in a temp folder,
authentication is ``trust`` on loopback only, and the server stops when the ``with`` block ends. Runs the
server as the ``postgres`` user when called as root (postgres refuses to run as root).
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from edgekit.errors import SearchStorageError


def server_binary(name: str) -> str | None:
    """Path of a PostgreSQL server program (``initdb``, ``postgres``), newest version first, or None."""
    for folder in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if os.access(Path(folder) / name, os.X_OK):
            return str(Path(folder) / name)
    return shutil.which(name)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def local_postgres(database: str = "edgekit", timeout_s: float = 60.0) -> Iterator[str]:
    """Start a server, create ``database`` and yield its URL ``postgresql://postgres@127.0.0.1:PORT/db``."""
    initdb, server = server_binary("initdb"), server_binary("postgres")
    if initdb is None or server is None:
        raise SearchStorageError(
            "PostgreSQL server binaries not found; install them: apt-get install postgresql"
        )
    import psycopg2

    root = Path(tempfile.mkdtemp(prefix="edgekit-pg-"))
    os.chmod(root, 0o755)
    data, sockets, log = root / "data", root / "sock", root / "server.log"
    sockets.mkdir()
    as_user: list[str] = []
    if os.geteuid() == 0:
        as_user = ["runuser", "-u", "postgres", "--"]
        shutil.chown(root, "postgres")
        shutil.chown(sockets, "postgres")
    proc = None
    try:
        subprocess.run(
            [*as_user, initdb, "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync"],
            check=True,
            capture_output=True,
        )
        port = _free_port()
        with open(log, "w") as log_file:
            proc = subprocess.Popen(
                [
                    *as_user,
                    server,
                    "-D",
                    str(data),
                    "-p",
                    str(port),
                    "-k",
                    str(sockets),
                    "-c",
                    "listen_addresses=127.0.0.1",
                    "-c",
                    "fsync=off",
                ],
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                conn = psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres")
                break
            except psycopg2.OperationalError as exc:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise SearchStorageError(f"PostgreSQL did not start: {log.read_text()[-1500:]}") from exc
                time.sleep(0.3)
        conn.autocommit = True
        conn.cursor().execute(f'CREATE DATABASE "{database}"')
        conn.close()
        yield f"postgresql://postgres@127.0.0.1:{port}/{database}"
    finally:
        pid_file = data / "postmaster.pid"
        if proc is not None:
            if pid_file.exists():
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid_file.read_text().split()[0]), signal.SIGINT)  # fast shutdown
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(root, ignore_errors=True)
