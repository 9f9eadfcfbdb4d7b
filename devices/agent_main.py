"""The on-device agent's entry point: load a model, benchmark it, print the Profile as JSON.

Runs on the device with only Python 3, numpy and one runtime. ``edgekit.devices.agent.build_agent``
embeds this module and the runtime modules it imports into one file that connectors push.
Output protocol: one line ``EDGEKIT-RESULT <json>``; errors are ``{"error": <class>, "message": ...}``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import sys
from pathlib import Path
from typing import Any

MARKER = "EDGEKIT-RESULT "
RUNTIME_PACKAGES = (
    "ai-edge-litert",
    "tflite-runtime",
    "tensorflow",
    "onnxruntime",
    "onnxruntime-gpu",
    "numpy",
)


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None


def runtimes_present() -> dict[str, str]:
    from importlib import metadata

    found = {}
    for dist in RUNTIME_PACKAGES:
        try:
            found[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return found


def emulated() -> bool:
    """True under qemu user-mode emulation (an Arm userland on an x86 host's /proc/cpuinfo)."""
    cpuinfo = _read("/proc/cpuinfo") or ""
    arm = platform.machine().lower() in {"aarch64", "arm64"} or platform.machine().lower().startswith("arm")
    return (
        arm and ("vendor_id" in cpuinfo or "GenuineIntel" in cpuinfo or "AuthenticAMD" in cpuinfo)
    ) or bool(os.environ.get("QEMU_CPU"))


# Linux aarch64 AT_HWCAP / AT_HWCAP2 bits (arch/arm64/include/uapi/asm/hwcap.h) under edgekit's flag names.
_HWCAP = {1 << 1: "neon", 1 << 9: "fp16", 1 << 10: "fp16_simd", 1 << 20: "dotprod", 1 << 22: "sve"}
_HWCAP2 = {1 << 1: "sve2", 1 << 13: "i8mm", 1 << 14: "bf16"}


def hwcap_flags(hwcap: int, hwcap2: int = 0) -> list[str]:
    """ISA flags the kernel advertises to processes (what XNNPACK dispatches on).

    >>> hwcap_flags((1 << 1) | (1 << 20))
    ['dotprod', 'neon']
    """
    flags = {name for bit, name in _HWCAP.items() if hwcap & bit}
    flags |= {name for bit, name in _HWCAP2.items() if hwcap2 & bit}
    return sorted(flags)


def auxv_flags() -> list[str]:
    """aarch64 ISA flags from ``getauxval``: right under qemu user mode too, where /proc/cpuinfo is the
    host's. Empty on other architectures or without glibc."""
    if platform.machine().lower() not in {"aarch64", "arm64"}:
        return []
    try:
        import ctypes

        getauxval = ctypes.CDLL(None).getauxval
        getauxval.restype = ctypes.c_ulong
        getauxval.argtypes = [ctypes.c_ulong]
        return hwcap_flags(getauxval(16), getauxval(26))  # AT_HWCAP, AT_HWCAP2
    except (OSError, AttributeError):
        return []


def cpu_facts() -> dict[str, Any]:
    """The runtime's CPU description, with the kernel-advertised aarch64 flags merged in."""
    from edgekit.runtime.cpuinfo import cpu_info

    cpu = cpu_info()
    known = cpu.get("flags")
    flags = [str(f) for f in known] if isinstance(known, list) else []
    cpu["flags"] = sorted({*flags, *auxv_flags()})
    if emulated():  # /proc/cpuinfo names the host's CPU, not the emulated one
        cpu["model"] = f"{os.environ.get('QEMU_CPU', 'qemu')} (emulated on {cpu['model']})"
    return cpu


def device_facts() -> dict[str, Any]:
    try:
        affinity = sorted(os.sched_getaffinity(0))
    except AttributeError:
        affinity = None
    return {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "governor": _read("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor"),
        "max_freq_khz": _read("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq"),
        "affinity": affinity,
        "emulated": emulated(),
        "runtimes": runtimes_present(),
    }


def _emit(payload: dict[str, Any]) -> None:
    sys.stdout.write(MARKER + json.dumps(payload) + "\n")
    sys.stdout.flush()


def run(args: argparse.Namespace) -> dict[str, Any]:
    if args.info:
        return {"info": {**device_facts(), "cpu": cpu_facts()}}
    digest = hashlib.sha256(Path(args.model).read_bytes()).hexdigest()
    if args.sha256 and digest != args.sha256:
        raise RuntimeError(f"the model arrived corrupted: sha256 {digest} != {args.sha256}")
    if args.affinity:
        wanted = {int(c) for c in args.affinity.split(",")}
        try:
            os.sched_setaffinity(0, wanted)
        except OSError as exc:
            raise ValueError(
                f"cannot pin to CPUs {args.affinity}: this device offers CPUs {sorted(os.sched_getaffinity(0))}"
            ) from exc
    from edgekit.runtime import Model

    model = Model.load(args.model, delegate=args.delegate, threads=args.threads)
    profile = model.benchmark(runs=args.runs, warmup=args.warmup)
    profile.extra.update(device_facts())
    profile.cpu = cpu_facts()
    profile.extra["sha256"] = digest
    return {"profile": profile.to_dict()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="edgekit-agent")
    parser.add_argument("--model")
    parser.add_argument("--sha256")
    parser.add_argument("--delegate", default="auto")
    parser.add_argument("--threads", type=int)
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--affinity", help="pin to these CPUs, comma-separated (e.g. 4,5,6,7: big cores)")
    parser.add_argument("--info", action="store_true")
    args = parser.parse_args(argv)
    try:
        import numpy  # noqa: F401
    except ImportError:
        _emit(
            {
                "error": "RemoteDependencyError",
                "message": "numpy is not installed on the device: "
                "pip install numpy ai-edge-litert (or onnxruntime)",
                "facts": device_facts(),
            }
        )
        return 2
    try:
        _emit(run(args))
        return 0
    except Exception as exc:  # every failure crosses back as data
        name = type(exc).__name__
        if name == "RuntimeUnavailableError":
            name = "RemoteDependencyError"
        extra = {"available": list(getattr(exc, "available", ()))}
        _emit({"error": name, "message": str(exc), **extra})
        return 2
