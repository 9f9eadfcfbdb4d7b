"""URIs, specs, adb error paths, the local device and the fleet."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgekit.devices import connect, parse_uri, profile_many, specs
from edgekit.devices.agent import build_agent
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
