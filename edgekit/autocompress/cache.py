"""Content-hash cache of trial-chain prefixes: a trial whose prefix matches a finished one reuses it.

Entries live in ``<study folder>/cache/``: ``<key>.json`` (metadata) plus the payload files it names
(a ``state_dict`` saved with ``torch.save``, a ``.tflite`` file). Every file is written atomically and
the JSON last, so an entry is complete or absent even when the search is killed mid-write.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from edgekit.fileio import write_text_atomic


def content_key(*parts: Any) -> str:
    """A short stable hash of JSON-able ``parts``.

    >>> content_key({"a": 1}) == content_key({"a": 1}) != content_key({"a": 2})
    True
    """
    h = hashlib.sha256()
    for part in parts:
        h.update(json.dumps(part, sort_keys=True, default=str).encode())
    return h.hexdigest()[:20]


class ChainCache:
    """Finished chain prefixes keyed by content hash, in ``folder``."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)

    def path(self, key: str, suffix: str) -> Path:
        """Where the payload file ``suffix`` (e.g. ``".pt"``, ``".tflite"``) of entry ``key`` lives."""
        return self.folder / f"{key}{suffix}"

    def get(self, key: str) -> dict[str, Any] | None:
        """The entry's metadata, or None when absent or when one of its payload files is missing."""
        meta = self.folder / f"{key}.json"
        if not meta.is_file():
            return None
        try:
            entry = json.loads(meta.read_text())
        except ValueError:
            return None
        if not all(Path(p).is_file() for p in entry.get("files", {}).values()):
            return None
        return entry

    def put(self, key: str, entry: dict[str, Any]) -> dict[str, Any]:
        """Record ``entry`` (its payload files, named in ``entry["files"]``, must already be written)."""
        write_text_atomic(self.folder / f"{key}.json", json.dumps(entry, indent=1, default=str))
        return entry
