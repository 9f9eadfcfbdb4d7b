"""Channel-importance criteria: an enum of names, mapped to torch-pruning importance objects."""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from typing import Any

from edgekit.errors import PruningError


class Importance(str, Enum):
    """How channels are ranked before the lowest-ranked are removed.

    ``TAYLOR`` ranks by |gradient x weight| and so needs a loss on a training batch; ``RANDOM`` is the
    baseline every criterion should beat.

    >>> Importance("bn_scale").needs_gradients, Importance.TAYLOR.needs_gradients
    (False, True)
    """

    L1 = "l1"
    L2 = "l2"
    BN_SCALE = "bn_scale"
    TAYLOR = "taylor"
    RANDOM = "random"

    @property
    def needs_gradients(self) -> bool:
        return self is Importance.TAYLOR


IMPORTANCES = tuple(i.value for i in Importance)


def _factories() -> dict[Importance, Callable[[], Any]]:
    import torch_pruning as tp

    return {
        Importance.L1: lambda: tp.importance.GroupMagnitudeImportance(p=1),
        Importance.L2: lambda: tp.importance.GroupMagnitudeImportance(p=2),
        Importance.BN_SCALE: lambda: tp.importance.BNScaleImportance(),
        Importance.TAYLOR: lambda: tp.importance.GroupTaylorImportance(),
        Importance.RANDOM: lambda: tp.importance.RandomImportance(),
    }


def parse_importance(value: str | Importance | Any) -> Importance | Any:
    """``value`` as an :class:`Importance`, or unchanged when it is a torch-pruning importance object."""
    if isinstance(value, Importance) or not isinstance(value, str):
        return value
    try:
        return Importance(value)
    except ValueError:
        raise PruningError(f"unknown importance {value!r}; choose one of {', '.join(IMPORTANCES)}") from None


def importance(name_or_object: str | Importance | Any) -> Any:
    """A torch-pruning importance for ``"l1"``, ``"l2"``, ``"bn_scale"``, ``"taylor"``, ``"random"``.

    Any ``torch_pruning.importance.Importance`` instance is passed through (custom criteria).
    """
    parsed = parse_importance(name_or_object)
    if not isinstance(parsed, Importance):
        return parsed
    return _factories()[parsed]()
