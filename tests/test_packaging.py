"""The folder -> namespace mapping: every package folder is listed in pyproject.toml."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAPPING = {"edgekit": "edgekit", "runtime": "edgekit.runtime", "converters": "edgekit.converters", "devices": "edgekit.devices"}


def test_every_package_folder_is_listed() -> None:
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = set()
    for folder, namespace in MAPPING.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder)
            found.add(".".join([namespace, *rel.parts]))
    assert found - listed == set(), f"add these to pyproject.toml [tool.setuptools] packages: {sorted(found - listed)}"
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
