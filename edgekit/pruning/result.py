"""``PruneResult``: what pruning changed, per layer and in total."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from edgekit.results import VerbResult


@dataclass(frozen=True)
class LayerChange:
    """Output channels (Conv) or features (Linear) of one layer, before and after pruning."""

    name: str
    kind: str
    channels_before: int
    channels_after: int


@dataclass
class PruneResult(VerbResult):
    """The pruned model and its size: parameters, MACs and output channels per layer, before and after."""

    model: Any
    params_before: int
    params_after: int
    macs_before: int
    macs_after: int
    layers: list[LayerChange] = field(default_factory=list)
    steps: int = 1

    @property
    def macs_ratio(self) -> float:
        return self.macs_after / max(self.macs_before, 1)

    @property
    def params_ratio(self) -> float:
        return self.params_after / max(self.params_before, 1)

    def to_dict(self) -> dict[str, Any]:
        """Everything but the model, as JSON-ready data (with the two ratios)."""
        data = {k: v for k, v in asdict(self).items() if k != "model"}
        data.update(macs_ratio=self.macs_ratio, params_ratio=self.params_ratio)
        return data

    def summary(self) -> str:
        """One line: parameters, MACs and how many layers lost channels."""
        return (
            f"params {self.params_before:,} -> {self.params_after:,} ({self.params_ratio:.2f}x), "
            f"MACs {self.macs_before:,} -> {self.macs_after:,} ({self.macs_ratio:.2f}x), "
            f"{sum(c.channels_before != c.channels_after for c in self.layers)} layers pruned"
        )
