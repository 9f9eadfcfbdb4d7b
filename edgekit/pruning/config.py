"""``PruneConfig``: the validated settings of one ``prune`` call (what to remove, how to rank it)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from torch import nn

from edgekit.errors import PruningError
from edgekit.pruning.importance import Importance, parse_importance


class Scope(str, Enum):
    """``LOCAL``: the same fraction of channels in every layer; ``GLOBAL``: channels ranked across layers."""

    LOCAL = "local"
    GLOBAL = "global"


@dataclass(frozen=True)
class PruneConfig:
    """Settings of :func:`edgekit.pruning.prune`, checked when built (every bad value is a PruningError).

    >>> PruneConfig(ratio=0.5, importance="bn_scale").importance
    <Importance.BN_SCALE: 'bn_scale'>
    >>> PruneConfig(ratio=1.0)
    Traceback (most recent call last):
    ...
    edgekit.errors.PruningError: ratio must be in [0, 1) (the fraction of channels removed), got 1.0
    """

    ratio: float | None = None
    target_macs: float | None = None
    importance: Importance | str | Any = Importance.L2
    scope: Scope | str = Scope.LOCAL
    round_to: int | None = None
    ignored_layers: Sequence[str | nn.Module] = ()
    steps: int = 1

    def __post_init__(self) -> None:
        if (self.ratio is None) == (self.target_macs is None):
            raise PruningError(
                "give exactly one of ratio (fraction of channels to remove) or target_macs (MACs to prune down to)"
            )
        if self.ratio is not None and not 0.0 <= self.ratio < 1.0:
            raise PruningError(
                f"ratio must be in [0, 1) (the fraction of channels removed), got {self.ratio}"
            )
        if self.target_macs is not None and self.target_macs <= 0:
            raise PruningError(f"target_macs must be > 0, got {self.target_macs}")
        try:
            object.__setattr__(self, "scope", Scope(self.scope))
        except ValueError:
            raise PruningError(f"scope must be 'local' or 'global', got {self.scope!r}") from None
        object.__setattr__(self, "importance", parse_importance(self.importance))
        if self.round_to is not None and (not isinstance(self.round_to, int) or self.round_to < 1):
            raise PruningError(f"round_to must be a positive integer (e.g. 8) or None, got {self.round_to!r}")
        if not isinstance(self.steps, int) or self.steps < 1:
            raise PruningError(f"steps must be an integer >= 1, got {self.steps!r}")
        if isinstance(self.ignored_layers, str | nn.Module):
            object.__setattr__(self, "ignored_layers", (self.ignored_layers,))

    @property
    def needs_gradients(self) -> bool:
        return isinstance(self.importance, Importance) and self.importance.needs_gradients
