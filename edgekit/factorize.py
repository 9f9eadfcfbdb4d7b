"""Low-rank factorization: truncated SVD of Linear and 1x1 Conv layers into two thinner layers."""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from edgekit.config import VerbConfig
from edgekit.deprecation import warn_old_style
from edgekit.errors import LowRankError
from edgekit.results import VerbResult, unwrap_model
from edgekit.tensorio import as_example_tuple

__all__ = ["LowRankConfig", "LowRankError", "LowRankResult", "RankChoice", "lowrank"]


@dataclass(frozen=True)
class LowRankConfig(VerbConfig):
    """Settings of :func:`lowrank`: keep ``energy`` of the squared singular values of each Linear /
    1x1 Conv with at least ``min_params`` weights.

    >>> LowRankConfig(energy=0)
    Traceback (most recent call last):
    ...
    edgekit.errors.LowRankError: energy must be in (0, 1] (the fraction of squared singular values kept), got 0
    """

    energy: float = 0.9
    min_params: int = 4096

    def __post_init__(self) -> None:
        if not isinstance(self.energy, int | float) or not 0.0 < self.energy <= 1.0:
            raise LowRankError(
                f"energy must be in (0, 1] (the fraction of squared singular values kept), got {self.energy}"
            )
        if not isinstance(self.min_params, int) or self.min_params < 0:
            raise LowRankError(f"min_params must be an integer >= 0, got {self.min_params!r}")


@dataclass(frozen=True)
class RankChoice:
    """One factorized layer: its (out, in) shape, the rank kept, and its weight count before/after."""

    name: str
    shape: tuple[int, int]  # (out, in)
    rank: int
    params_before: int
    params_after: int

    @property
    def reduction(self) -> float:
        """Fraction of the layer's weights removed (0.75: a quarter remains)."""
        return 1.0 - self.params_after / self.params_before

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "reduction": self.reduction}


def _rank_for(singular: torch.Tensor, energy: float) -> int:
    cumulative = torch.cumsum(singular**2, 0) / torch.sum(singular**2)
    return int(torch.searchsorted(cumulative, torch.tensor(energy)).item()) + 1


def _factor(weight: torch.Tensor, rank: int) -> tuple[torch.Tensor, torch.Tensor]:
    u, s, vh = torch.linalg.svd(weight, full_matrices=False)
    root = torch.sqrt(s[:rank])
    return u[:, :rank] * root, root[:, None] * vh[:rank]  # (out, r), (r, in)


@dataclass
class LowRankResult(VerbResult):
    """The factorized model and one :class:`RankChoice` per factorized layer."""

    model: Any
    layers: list[RankChoice] = field(default_factory=list)

    @property
    def params_removed(self) -> int:
        return sum(c.params_before - c.params_after for c in self.layers)

    def summary(self) -> str:
        return f"{len(self.layers)} layers factorized, {self.params_removed:,} weights removed"


def _factorize(model: nn.Module, config: LowRankConfig) -> list[RankChoice]:
    """Replace the layers of ``model`` in place; the choices made."""
    choices: list[RankChoice] = []
    for name, module in list(model.named_modules()):
        is_linear = isinstance(module, nn.Linear)
        is_pointwise = (
            isinstance(module, nn.Conv2d)
            and module.kernel_size == (1, 1)
            and module.groups == 1
            and module.stride == (1, 1)
            and module.padding in ((0, 0), 0)
        )
        if not (is_linear or is_pointwise) or module.weight.numel() < config.min_params:
            continue
        weight = module.weight.detach().reshape(module.weight.shape[0], -1).float()
        out_f, in_f = weight.shape
        rank = _rank_for(torch.linalg.svdvals(weight), config.energy)
        after = rank * (out_f + in_f)
        if after >= out_f * in_f:
            continue
        a, b = _factor(weight, rank)
        bias = module.bias is not None
        first: nn.Linear | nn.Conv2d
        second: nn.Linear | nn.Conv2d
        if is_linear:
            first, second = nn.Linear(in_f, rank, bias=False), nn.Linear(rank, out_f, bias=bias)
        else:
            first, second = nn.Conv2d(in_f, rank, 1, bias=False), nn.Conv2d(rank, out_f, 1, bias=bias)
            a, b = a[:, :, None, None], b[:, :, None, None]
        first.weight.data.copy_(b)
        second.weight.data.copy_(a)
        if module.bias is not None and second.bias is not None:
            second.bias.data.copy_(module.bias.detach())
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, nn.Sequential(first, second))
        choices.append(RankChoice(name, (out_f, in_f), rank, out_f * in_f, after))
    return choices


def lowrank(
    model: nn.Module | Any,
    example_inputs: Any = None,
    config: LowRankConfig | None = None,
    **old_keywords: Any,
) -> LowRankResult | nn.Module:
    """Replace each Linear / 1x1 Conv2d whose rank-``r`` SVD (keeping ``config.energy`` of the squared
    singular values) has fewer parameters by two layers (in -> r -> out); returns a :class:`LowRankResult`.

    The caller's model is not changed: the result's ``.model`` is a factorized copy. Layers with fewer
    than ``config.min_params`` weights are left alone. ``example_inputs`` (optional: SVD needs no data)
    are run through the factorized copy to check it still runs. Fine-tune afterwards to recover accuracy.

    Deprecated (one release): ``lowrank(model, energy=..., min_params=...)`` warns, changes the model in
    place and returns it with the choices in ``model.edgekit_lowrank``, as before.

    >>> r = lowrank(nn.Sequential(nn.Linear(256, 256)), config=LowRankConfig(energy=0.5))
    >>> [type(x).__name__ for x in r.model[0]], r.layers[0].rank < 256
    (['Linear', 'Linear'], True)
    """
    unknown = sorted(set(old_keywords) - {"energy", "min_params"})
    if unknown:
        raise TypeError(f"lowrank() got unexpected keyword argument(s) {', '.join(unknown)}")
    if old_keywords:
        if config is not None:
            raise LowRankError(
                "give the settings either in config=LowRankConfig(...) or as keywords, not both"
            )
        warn_old_style(
            "ek.lowrank(model, energy=..., min_params=...) (in place, report on model.edgekit_lowrank)",
            "ek.lowrank(model, x, config=ek.LowRankConfig(...)), which returns a LowRankResult",
        )
        model.edgekit_lowrank = _factorize(model, LowRankConfig(**old_keywords))
        return model
    config = config if config is not None else LowRankConfig()
    work = copy.deepcopy(unwrap_model(model))
    if not isinstance(work, nn.Module):
        raise LowRankError(f"lowrank() takes a torch.nn.Module, got {type(work).__name__}")
    choices = _factorize(work, config)
    if example_inputs is not None:
        example = as_example_tuple(example_inputs, error=LowRankError)
        training = work.training
        with torch.no_grad():
            work.eval()(*example)
        work.train(training)
    return LowRankResult(work, choices)
