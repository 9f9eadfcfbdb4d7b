"""What CPU this is: architecture, core count and the ISA features that decide int8/fp32 kernel speed."""

from __future__ import annotations

import os
import platform
from pathlib import Path

# Flags worth reporting, under the names users know (x86 /proc/cpuinfo "flags", aarch64 "Features").
_X86_FLAGS = (
    "sse4_2",
    "avx",
    "avx2",
    "fma",
    "f16c",
    "avx512f",
    "avx512bw",
    "avx512_vnni",
    "avx_vnni",
    "amx_int8",
)
_ARM_FEATURES = {
    "asimd": "neon",
    "asimddp": "dotprod",
    "i8mm": "i8mm",
    "fphp": "fp16",
    "asimdhp": "fp16_simd",
    "sve": "sve",
    "sve2": "sve2",
    "bf16": "bf16",
}


def _parse_cpuinfo(text: str) -> tuple[str | None, set[str]]:
    model, tokens = None, set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key in {"model name", "processor"} and model is None and not value.strip().isdigit():
            model = value.strip() or None
        elif key in {"flags", "features"}:
            tokens.update(value.split())
    return model, tokens


def cpu_flags(tokens: set[str], arch: str) -> list[str]:
    """Normalised ISA flags (``neon``, ``dotprod``, ``avx2``, ``avx512_vnni`` ...) from raw cpuinfo tokens.

    >>> cpu_flags({"asimd", "asimddp", "fp"}, "aarch64")
    ['dotprod', 'neon']
    >>> cpu_flags({"avx2", "fma", "sse"}, "x86_64")
    ['avx2', 'fma']
    """
    if arch in {"aarch64", "arm64"} or arch.startswith("arm"):
        flags = {name for raw, name in _ARM_FEATURES.items() if raw in tokens}
        if arch in {"aarch64", "arm64"}:
            flags.add("neon")  # Advanced SIMD is mandatory on ARMv8-A
        if "neon" in tokens:
            flags.add("neon")
        return sorted(flags)
    return sorted(f for f in _X86_FLAGS if f in tokens)


def cpu_info(cpuinfo_path: str = "/proc/cpuinfo") -> dict[str, object]:
    """``{"arch", "model", "cores", "flags"}`` for this machine (flags empty where /proc is unreadable)."""
    arch = platform.machine().lower()
    try:
        model, tokens = _parse_cpuinfo(Path(cpuinfo_path).read_text(errors="replace"))
    except OSError:
        model, tokens = None, set()
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return {
        "arch": arch,
        "model": model or platform.processor() or None,
        "cores": cores,
        "flags": cpu_flags(tokens, arch),
    }
