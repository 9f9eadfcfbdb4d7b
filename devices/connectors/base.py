"""A device reached through a transport (SSH, adb): push the agent and the model, run, clean up."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shlex
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgekit.errors import (
    DelegateUnavailableError,
    DeviceError,
    EdgekitError,
    InputSpecError,
    ModelFileError,
    RemoteDependencyError,
    RuntimeSettingError,
)

if TYPE_CHECKING:
    from edgekit.runtime import Profile, ProfileConfig

log = logging.getLogger(__name__)
MARKER = "EDGEKIT-RESULT "
_ERRORS: dict[str, type[EdgekitError]] = {
    "RemoteDependencyError": RemoteDependencyError,
    "DelegateUnavailableError": DelegateUnavailableError,
    "ModelFileError": ModelFileError,
    "InputSpecError": InputSpecError,
}


@dataclass(frozen=True)
class DeviceInfo:
    """What the agent found on the device."""

    uri: str
    arch: str
    cpu_flags: tuple[str, ...]
    python: str | None
    runtimes: dict[str, str]
    emulated: bool
    extra: dict[str, Any] = field(default_factory=dict)


class Transport:
    """How commands and files reach a device. Commands are argument lists, never shell strings."""

    uri: str
    python: str

    def run(self, argv: list[str], timeout: float) -> tuple[int, str, str]:  # pragma: no cover - interface
        raise NotImplementedError

    def put(self, local: Path, remote: str) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def close(self) -> None:
        return None


class Device:
    """A device to profile models on. Use :func:`edgekit.devices.connect`."""

    def __init__(self, transport: Transport, command_timeout: float = 600.0) -> None:
        self.transport = transport
        self.command_timeout = command_timeout

    @property
    def uri(self) -> str:
        return self.transport.uri

    def __enter__(self) -> Device:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.transport.close()

    def _agent(self, args: list[str], workdir: str | None = None) -> dict[str, Any]:
        from edgekit.devices.agent import build_agent

        own_dir = workdir is None
        workdir = workdir or self._mktemp()
        try:
            agent = Path(workdir) / "edgekit_agent.py"
            self._put_text(build_agent(), agent.as_posix())
            rc, out, err = self.transport.run(
                [self.transport.python, agent.as_posix(), *args], self.command_timeout
            )
        finally:
            if own_dir:
                self._cleanup(workdir)
        return self._parse(rc, out, err)

    def _parse(self, rc: int, out: str, err: str) -> dict[str, Any]:
        line = next((ln for ln in out.splitlines() if ln.startswith(MARKER)), None)
        if line is None:
            hint = " ".join(err.split())[-600:]
            if rc == 127 or "not found" in hint:
                raise RemoteDependencyError(
                    f"{self.uri}: {self.transport.python} is not available: install Python 3 ({hint})"
                )
            raise DeviceError(f"{self.uri}: the agent exited with code {rc} and no result: {hint}")
        payload = json.loads(line[len(MARKER) :])
        if "error" in payload:
            cls = _ERRORS.get(payload["error"], DeviceError)
            message = f"{self.uri}: {payload['message']}"
            if cls is DelegateUnavailableError:
                raise DelegateUnavailableError(message, available=tuple(payload.get("available", ())))
            raise cls(message)
        return payload

    def _mktemp(self) -> str:
        rc, out, err = self.transport.run(["mktemp", "-d", "/tmp/edgekit.XXXXXX"], 30)
        if rc != 0 or not out.strip():
            raise DeviceError(f"{self.uri}: cannot create a temporary folder: {err.strip()}")
        return out.strip().splitlines()[-1]

    def _cleanup(self, workdir: str) -> None:
        with contextlib.suppress(Exception):  # best effort: the device may be gone
            self.transport.run(["rm", "-rf", "--", workdir], 30)

    def _put_text(self, text: str, remote: str) -> None:
        import tempfile

        with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as fh:
            fh.write(text)
        try:
            self.transport.put(Path(fh.name), remote)
        finally:
            Path(fh.name).unlink()

    def info(self) -> DeviceInfo:
        """Architecture, CPU flags, Python and runtimes on the device."""
        info = self._agent(["--info"])["info"]
        return DeviceInfo(
            uri=self.uri,
            arch=info["cpu"]["arch"],
            cpu_flags=tuple(info["cpu"]["flags"]),
            python=info.get("python"),
            runtimes=info.get("runtimes", {}),
            emulated=bool(info.get("emulated")),
            extra=info,
        )

    def profile(
        self,
        model_path: str | os.PathLike[str],
        *,
        delegate: str = "auto",
        threads: int | None = None,
        runs: int = 100,
        warmup: int = 10,
        affinity: str | Iterable[int] | None = None,
        config: ProfileConfig | None = None,
    ) -> Profile:
        """Push ``model_path`` and the agent, benchmark on the device, return its ``Profile``.

        ``config`` (an ``ek.ProfileConfig``) replaces the keyword settings; ``ek.profile(path,
        device=uri, config=...)`` calls this. On the device the agent runs the same local path
        (``Model.benchmark`` -> ``ek.profile``).

        ``affinity`` pins the run to CPUs, like ``taskset`` ("4-7" or ``[4, 5, 6, 7]`` for the big cores of
        a big.LITTLE board); ``Profile.extra["affinity"]`` records the CPUs the run had. The remote folder
        is removed afterwards, also when the run fails.

        >>> from edgekit.devices import connect
        >>> with connect("local") as device:  # doctest: +SKIP
        ...     device.profile("model.tflite", threads=1, affinity="0").extra["affinity"]
        [0]
        """
        from edgekit.runtime import Profile, ProfileConfig, model_file

        keywords = (delegate, threads, runs, warmup, affinity) != ("auto", None, 100, 10, None)
        if config is not None and keywords:
            raise RuntimeSettingError(
                "give the settings either in config=ProfileConfig(...) or as keywords, not both"
            )
        if config is None:
            cpus = cpu_list(affinity)
            config = ProfileConfig(
                runs=runs, warmup=warmup, threads=threads, delegate=delegate, affinity=cpus
            )
        else:
            cpus = cpu_list(config.affinity)
        delegate, threads, runs, warmup = config.delegate, config.threads, config.runs, config.warmup
        path = Path(model_path)
        model_file.validate(path)  # never push something that is not a model
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        workdir = self._mktemp()
        try:
            remote = f"{workdir}/{path.name}"
            start = time.perf_counter()
            self.transport.put(path, remote)
            push_s = time.perf_counter() - start
            args = [
                "--model",
                remote,
                "--sha256",
                digest,
                "--delegate",
                delegate,
                "--runs",
                str(runs),
                "--warmup",
                str(warmup),
            ]
            if threads is not None:
                args += ["--threads", str(threads)]
            if cpus:
                args += ["--affinity", cpus]
            payload = self._agent(args, workdir)
        finally:
            self._cleanup(workdir)
        profile = Profile.from_dict(payload["profile"])
        profile.extra.update(device=self.uri, push_s=push_s)
        return profile


def cpu_list(affinity: str | Iterable[int] | None) -> str | None:
    """Validate an affinity ("0-3,6" or CPU numbers) into the agent's "0,1,2,3,6" form.

    >>> cpu_list("4-7")
    '4,5,6,7'
    """
    if affinity is None:
        return None
    try:
        if isinstance(affinity, str):
            cpus: set[int] = set()
            for part in affinity.split(","):
                low, _, high = part.strip().partition("-")
                cpus.update(range(int(low), int(high or low) + 1))
        else:
            cpus = {int(c) for c in affinity}
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"affinity must look like '4-7' or '0,2' or be CPU numbers, got {affinity!r}"
        ) from exc
    if not cpus or min(cpus) < 0:
        raise ValueError(f"affinity names no valid CPU: {affinity!r} (CPU numbers start at 0)")
    return ",".join(map(str, sorted(cpus)))


def quote(argv: list[str]) -> str:
    """One command line for transports that take a string (SSH, adb shell), every argument quoted."""
    return shlex.join(argv)
