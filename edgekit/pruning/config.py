"""``PruneConfig``: the validated settings of one ``prune`` call (what to remove, how to rank it)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from torch import nn

from edgekit.config import VerbConfig, coerce_enum
from edgekit.errors import PruningError
from edgekit.pruning.importance import Importance, parse_importance


class Scope(str, Enum):
    """``LOCAL``: the same fraction of channels in every layer; ``GLOBAL``: channels ranked across layers."""

    LOCAL = "local"
    GLOBAL = "global"


#: the ratio used when neither ``ratio`` nor ``target_macs`` is given (the recipe schema's default too)
DEFAULT_RATIO = 0.5


@dataclass(frozen=True)
class PruneConfig(VerbConfig):
    """Settings of :func:`edgekit.pruning.prune`, checked when built (every bad value is a PruningError).

    ``ratio``: fraction of channels removed per prunable layer (``scope="local"``) or overall
    (``"global"``); ``target_macs``: instead of a ratio, prune the least until MACs <= target. Give at
    most one; with neither, ``ratio`` is 0.5. ``importance``: :class:`Importance` (or its value, or a
    torch-pruning importance object, which does not serialise). ``round_to``: keep channel counts
    multiples of N. ``ignored_layers``: names (or modules) left intact, default the final classifier.
    ``steps`` > 1 prunes iteratively.

    >>> PruneConfig().ratio
    0.5
    >>> PruneConfig(target_macs=1e6).to_dict()["importance"]
    'l2'

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
        if self.ratio is not None and self.target_macs is not None:
            raise PruningError(
                "give one of ratio (fraction of channels to remove) or target_macs (MACs to prune down to), not both"
            )
        if self.ratio is None and self.target_macs is None:
            object.__setattr__(self, "ratio", DEFAULT_RATIO)
        if self.ratio is not None and not 0.0 <= self.ratio < 1.0:
            raise PruningError(
                f"ratio must be in [0, 1) (the fraction of channels removed), got {self.ratio}"
            )
        if self.target_macs is not None and self.target_macs <= 0:
            raise PruningError(f"target_macs must be > 0, got {self.target_macs}")
        coerce_enum(self, "scope", Scope, PruningError)
        object.__setattr__(self, "importance", parse_importance(self.importance))
        if self.round_to is not None and (not isinstance(self.round_to, int) or self.round_to < 1):
            raise PruningError(f"round_to must be a positive integer (e.g. 8) or None, got {self.round_to!r}")
        if not isinstance(self.steps, int) or self.steps < 1:
            raise PruningError(f"steps must be an integer >= 1, got {self.steps!r}")
        if isinstance(self.ignored_layers, str | nn.Module):
            object.__setattr__(self, "ignored_layers", (self.ignored_layers,))
        else:
            object.__setattr__(self, "ignored_layers", tuple(self.ignored_layers))

    @property
    def needs_gradients(self) -> bool:
        return isinstance(self.importance, Importance) and self.importance.needs_gradients
