"""Channel-importance criteria by name, as torch-pruning importance objects."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from edgekit.errors import PruningError


def _registry() -> dict[str, Callable[[], Any]]:
    import torch_pruning as tp

    return {
        "l1": lambda: tp.importance.GroupMagnitudeImportance(p=1),
        "l2": lambda: tp.importance.GroupMagnitudeImportance(p=2),
        "bn_scale": lambda: tp.importance.BNScaleImportance(),
        "taylor": lambda: tp.importance.GroupTaylorImportance(),
        "random": lambda: tp.importance.RandomImportance(),
    }


IMPORTANCES = ("l1", "l2", "bn_scale", "taylor", "random")


def importance(name_or_object: str | Any) -> Any:
    """A torch-pruning importance for ``"l1"``, ``"l2"``, ``"bn_scale"``, ``"taylor"``, ``"random"``.

    Any ``torch_pruning.importance.Importance`` instance is passed through (custom criteria).
    """
    if not isinstance(name_or_object, str):
        return name_or_object
    factory = _registry().get(name_or_object)
    if factory is None:
        raise PruningError(f"unknown importance {name_or_object!r}; choose one of {', '.join(IMPORTANCES)}")
    return factory()
