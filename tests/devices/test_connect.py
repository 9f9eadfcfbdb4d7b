"""URIs, specs, adb error paths, the local device and the fleet."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgekit.devices import connect, parse_uri, profile_many, specs
from edgekit.devices.agent import build_agent
from edgekit.devices.agent_main import hwcap_flags
from edgekit.errors import DeviceConnectionError, DeviceError


@pytest.mark.parametrize(
    "uri",
    [
        "",
        "ftp://host",
        "ssh://",
        "ssh://user@host:99999",
        "ssh://user@host/path",
        "adb://",
        "ssh://a@b;rm -rf /",
    ],
)
def test_malformed_or_unknown_uris(uri: str) -> None:
    with pytest.raises(DeviceError):
        parse_uri(uri)


def test_uri_round_trip() -> None:
    assert str(parse_uri("ssh://pi@raspberrypi.local:2222")) == "ssh://pi@raspberrypi.local:2222"
    assert parse_uri("adb://emulator-5554").host == "emulator-5554"


def test_specs_are_shipped_data() -> None:
    table = specs()
    assert {
        "x86_64-host",
        "aarch64-linux",
        "raspberry-pi-4",
        "raspberry-pi-5",
        "jetson-orin-nano",
        "android-phone",
    } <= set(table)
    assert "dotprod" in table["raspberry-pi-5"].isa and "dotprod" not in table["raspberry-pi-4"].isa
    assert "tensorrt" in table["jetson-orin-nano"].delegates


def test_adb_device_that_is_not_connected() -> None:
    with pytest.raises(DeviceConnectionError, match="no adb device 'ZX1G22' is connected"):
        connect("adb://ZX1G22")


def test_agent_is_generated_from_the_runtime_modules() -> None:
    import inspect

    import edgekit.runtime.model

    agent = build_agent()
    assert (
        inspect.getsource(edgekit.runtime.model) in agent.encode().decode("unicode_escape")
        or "class Model" in agent
    )
    assert "torch" not in {line.split()[1] for line in agent.splitlines() if line.startswith("import ")}


def test_fleet_keeps_results_when_one_device_fails(tflite_file: Path) -> None:
    results = profile_many(tflite_file, ["local", "adb://missing", "local"], runs=3, warmup=0)
    assert [r.ok for r in results] == [True, False, True]
    assert "no adb device" in results[1].error and results[0].profile.runs == 3


def test_local_profile_pins_the_requested_cpus(tflite_file: Path) -> None:
    with connect("local") as device:
        profile = device.profile(tflite_file, runs=3, warmup=0, threads=1, affinity="0")
    assert profile.extra["affinity"] == [0] and profile.threads == 1 and profile.extra["device"] == "local"


@pytest.mark.parametrize("affinity", ["big", "3-x", "", [-1]])
def test_malformed_affinity_is_rejected_before_anything_runs(tflite_file: Path, affinity: object) -> None:
    with connect("local") as device, pytest.raises(ValueError, match="affinity"):
        device.profile(tflite_file, affinity=affinity)


def test_affinity_the_device_does_not_have(tflite_file: Path) -> None:
    with connect("local") as device, pytest.raises(DeviceError, match="cannot pin to CPUs 4095"):
        device.profile(tflite_file, runs=2, affinity=[4095])


def test_aarch64_hwcaps_name_the_isa_xnnpack_dispatches_on() -> None:
    cortex_a72 = (1 << 0) | (1 << 1)  # fp, asimd
    cortex_a76 = cortex_a72 | (1 << 9) | (1 << 10) | (1 << 20)  # + fphp, asimdhp, asimddp
    assert hwcap_flags(cortex_a72) == ["neon"]
    assert hwcap_flags(cortex_a76) == ["dotprod", "fp16", "fp16_simd", "neon"]
    assert hwcap_flags(cortex_a72, (1 << 13) | (1 << 14)) == ["bf16", "i8mm", "neon"]
