"""Search files (YAML) for ``edgekit search``: model, data, space and config, with file:line errors.

```yaml
model: {demo: cnn, epochs: 12}     # edgekit.demo.DigitsCNN (or resnet), trained on the data first
data: {digits: true, size: 8}      # scikit-learn's bundled digits, fixed split
space:                             # edgekit.autocompress.SearchSpace fields
  prune_ratio: [0.0, 0.75]
  quant: [float, int8_ptq]
config:                            # edgekit.autocompress.SearchConfig fields
  target: local
  budget: 30
```
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgekit.autocompress.config import SearchConfig
from edgekit.autocompress.space import SearchSpace
from edgekit.errors import SearchSpaceError

SECTIONS = ("model", "data", "space", "config")
DEMOS = ("cnn", "resnet")


@dataclass(frozen=True)
class SearchFile:
    """A parsed search file."""

    path: Path
    space: SearchSpace
    config: SearchConfig
    model: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)


def _lines(node: Any) -> dict[str, int]:
    """key -> 1-based line of each key of a YAML mapping node."""
    out: dict[str, int] = {}
    for key, _ in getattr(node, "value", []) if node is not None and node.tag.endswith(":map") else []:
        out[str(key.value)] = key.start_mark.line + 1
    return out


def _section(root: Any, name: str) -> Any:
    if root is None or not root.tag.endswith(":map"):
        return None
    for key, value in root.value:
        if key.value == name:
            return value
    return None


def load_search_file(path: str | os.PathLike[str]) -> SearchFile:
    """Read and validate a search file; every error names ``file:line`` and the key."""
    import yaml

    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise SearchSpaceError(
            f"{path}: cannot read the search file ({exc.strerror}); check the path"
        ) from exc
    try:
        root = yaml.compose(text)
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise SearchSpaceError(
            f"{where}: not valid YAML ({getattr(exc, 'problem', exc)}); fix the syntax"
        ) from exc
    top = _lines(root)
    if not isinstance(data, dict):
        raise SearchSpaceError(f"{path}:1: expected a mapping with keys {', '.join(SECTIONS)}")
    for key in data:
        if key not in SECTIONS:
            raise SearchSpaceError(
                f"{path}:{top.get(str(key), 1)}: {key}: unknown section; use {', '.join(SECTIONS)}"
            )
    for key in SECTIONS:
        if key in data and data[key] is not None and not isinstance(data[key], dict):
            raise SearchSpaceError(f"{path}:{top.get(key, 1)}: {key}: expected a mapping of key: value")
    space = SearchSpace.from_dict(
        data.get("space") or {}, source=str(path), lines=_lines(_section(root, "space"))
    )
    config = SearchConfig.from_dict(
        data.get("config") or {}, source=str(path), lines=_lines(_section(root, "config"))
    )
    model = dict(data.get("model") or {"demo": "cnn"})
    mlines = _lines(_section(root, "model"))
    if model.get("demo", "cnn") not in DEMOS:
        raise SearchSpaceError(
            f"{path}:{mlines.get('demo', top.get('model', 1))}: model.demo: unknown {model.get('demo')!r}; "
            f"use {', '.join(DEMOS)}"
        )
    return SearchFile(path, space, config, model, dict(data.get("data") or {"digits": True}))
