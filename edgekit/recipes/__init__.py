"""Recipes: one YAML file takes a model through train, prune, quantize, export, verify and profile.

The names below load on first use, so that ``ek.run`` can quiet third-party logs before torch loads.

>>> from edgekit.recipes import Recipe
>>> Recipe.model_validate({"model": {"demo": "cnn"}, "data": {"digits": True}, "steps": [{"step": "train"}]}).name
'edgekit'
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_LAZY = {
    "Recipe": "edgekit.recipes.schema",
    "RunSummary": "edgekit.recipes.records",
    "StageRecord": "edgekit.recipes.records",
    "load_recipe": "edgekit.recipes.loader",
    "run": "edgekit.recipes.api",
}

__all__ = ["Recipe", "RunSummary", "StageRecord", "load_recipe", "run"]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'edgekit.recipes' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from edgekit.recipes.api import run
    from edgekit.recipes.loader import load_recipe
    from edgekit.recipes.records import RunSummary, StageRecord
    from edgekit.recipes.schema import Recipe
