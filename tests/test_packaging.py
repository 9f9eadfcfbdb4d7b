"""The folder -> namespace mapping: every package folder is listed in pyproject.toml."""

from __future__ import annotations

from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]
MAPPING = {
    "edgekit": "edgekit",
    "runtime": "edgekit.runtime",
    "converters": "edgekit.converters",
    "devices": "edgekit.devices",
}


def test_every_package_folder_is_listed() -> None:
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = set()
    for folder, namespace in MAPPING.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder)
            found.add(".".join([namespace, *rel.parts]))
    assert found - listed == set(), (
        f"add these to pyproject.toml [tool.setuptools] packages: {sorted(found - listed)}"
    )
    assert listed - found == set(), f"listed but missing on disk: {sorted(listed - found)}"


def test_editable_install_maps_all_four_namespaces() -> None:
    import edgekit
    import edgekit.converters
    import edgekit.devices
    import edgekit.runtime

    assert Path(edgekit.runtime.__file__).parent == ROOT / "runtime"
    assert Path(edgekit.converters.__file__).parent == ROOT / "converters"
    assert Path(edgekit.devices.__file__).parent == ROOT / "devices"
    assert Path(edgekit.__file__).parent == ROOT / "edgekit"


def test_built_wheel_imports_all_four_namespaces(tmp_path: Path) -> None:
    """`pip wheel .` puts runtime/, converters/, devices/ under edgekit/ and they import from the wheel."""
    import subprocess
    import sys
    import zipfile

    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(ROOT),
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("edgekit-*.whl")
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        zf.extractall(site)
    for module in (
        "edgekit/__init__.py",
        "edgekit/runtime/__init__.py",
        "edgekit/converters/__init__.py",
        "edgekit/devices/__init__.py",
    ):
        assert module in names, f"{module} missing from the wheel"
    assert any(n.startswith("edgekit/devices/specs/") and n.endswith(".json") for n in names), (
        "device specs not packaged"
    )
    code = (
        "import edgekit, edgekit.runtime, edgekit.converters, edgekit.devices, pathlib, sys;"
        "print(*(pathlib.Path(m.__file__).parent for m in (edgekit, edgekit.runtime, edgekit.converters, edgekit.devices)))"
    )
    import numpy

    # -S: no site module, so the editable install's finder (a .pth hook) stays off; numpy from its folder
    out = subprocess.run(
        [sys.executable, "-S", "-c", code],
        env={"PYTHONPATH": f"{site}:{Path(numpy.__file__).parents[1]}", "PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    assert out == [
        str(site / "edgekit"),
        str(site / "edgekit/runtime"),
        str(site / "edgekit/converters"),
        str(site / "edgekit/devices"),
    ]
