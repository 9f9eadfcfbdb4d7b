"""CPU features: what edgekit prints is what this machine's kernel reports."""

from __future__ import annotations

import platform
from pathlib import Path

import pytest

from edgekit.runtime.cpuinfo import _X86_FLAGS, cpu_info


@pytest.mark.skipif(not Path("/proc/cpuinfo").exists(), reason="Linux only")
def test_flags_are_exactly_the_kernels_for_this_cpu() -> None:
    text = Path("/proc/cpuinfo").read_text()
    kernel = {
        t
        for line in text.splitlines()
        if line.lower().startswith(("flags", "features"))
        for t in line.split(":", 1)[1].split()
    }
    info = cpu_info()
    if platform.machine().lower() in {"x86_64", "amd64"}:
        assert set(info["flags"]) == {f for f in _X86_FLAGS if f in kernel}
        assert ("avx512_vnni" in info["flags"]) == ("avx512_vnni" in kernel)
    assert info["cores"] >= 1


def test_vnni_is_reported_only_when_listed(tmp_path: Path) -> None:
    no_vnni = tmp_path / "a"
    no_vnni.write_text("processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: fpu sse4_2 avx avx2 fma f16c\n")
    with_vnni = tmp_path / "b"
    with_vnni.write_text(no_vnni.read_text().replace("fma", "fma avx512f avx512bw avx512_vnni"))
    if platform.machine().lower() not in {"x86_64", "amd64"}:
        pytest.skip("x86 flag names")
    assert "avx512_vnni" not in cpu_info(str(no_vnni))["flags"]
    assert {"avx512_vnni", "avx512f", "avx512bw"} <= set(cpu_info(str(with_vnni))["flags"])
    assert cpu_info(str(with_vnni))["model"] == "AMD EPYC"
