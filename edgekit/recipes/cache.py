"""The run cache: which steps of a recipe can be reused from an earlier run into the same folder.

Every step has a key: a hash of the model/data sources, the seed, its own and all earlier step settings,
and the content of the source files. A cached step is reused only when its key matches and the files it
wrote still have the content they had (an edited or half-written file is never trusted). A step's entry
is written after it finished, atomically.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from edgekit.fileio import write_text_atomic
from edgekit.recipes.records import StageRecord

CACHE_FILE = ".edgekit-cache.json"


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _hash(*parts: Any) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(json.dumps(part, sort_keys=True, default=str).encode())
    return h.hexdigest()[:16]


def step_keys(recipe: Any) -> list[str]:
    """One key per step of ``recipe`` (a :class:`~edgekit.recipes.Recipe`); each chains the earlier ones."""
    base: list[Any] = [
        recipe.model.model_dump(mode="json"),
        recipe.data.model_dump(mode="json"),
        recipe.seed,
    ]
    for path in (recipe.model.onnx, recipe.model.state_dict, recipe.data.npz):
        if path is not None and Path(path).is_file():
            base.append(file_sha256(Path(path)))
    keys, chain = [], _hash(*base)
    for step in recipe.steps:
        chain = _hash(chain, step.model_dump(mode="json"))
        keys.append(chain)
    return keys


class RunCache:
    """The cache file ``out/.edgekit-cache.json``; ``force=True`` ignores (and then overwrites) it."""

    def __init__(self, out: Path, *, force: bool = False) -> None:
        self.path = out / CACHE_FILE
        self.entries: dict[str, Any] = {}
        if self.path.exists() and not force:
            try:
                self.entries = json.loads(self.path.read_text())
            except ValueError:
                self.entries = {}

    def lookup(self, index: int, key: str) -> StageRecord | None:
        """The record of step ``index`` if its key matches and its files are unchanged, else None."""
        entry = self.entries.get(str(index))
        if not entry or entry.get("key") != key:
            return None
        for path, digest in entry.get("hashes", {}).items():
            if not Path(path).is_file() or file_sha256(Path(path)) != digest:
                return None
        record = StageRecord(**entry["record"])
        record.cached = True
        return record

    def store(self, index: int, key: str, record: StageRecord) -> None:
        hashes = {path: file_sha256(Path(path)) for path in record.files.values() if Path(path).is_file()}
        self.entries[str(index)] = {"key": key, "record": asdict(record), "hashes": hashes}
        write_text_atomic(self.path, json.dumps(self.entries, indent=1))
