"""Low-rank factorization: truncated SVD of Linear and 1x1 Conv layers into two thinner layers."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from edgekit.errors import EdgekitError


class LowRankError(EdgekitError, ValueError):
    """``lowrank`` was given a bad setting (``energy`` outside (0, 1])."""


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


def lowrank(model: nn.Module, *, energy: float = 0.9, min_params: int = 4096) -> nn.Module:
    """Replace each Linear / 1x1 Conv2d whose rank-``r`` SVD (keeping ``energy`` of the squared singular
    values) has fewer parameters by two layers (in -> r -> out). In place; returns the model.

    The chosen ranks are in ``model.edgekit_lowrank`` (a list of :class:`RankChoice`). Layers with fewer
    than ``min_params`` weights are left alone. Fine-tune afterwards to recover accuracy.

    >>> m = lowrank(nn.Sequential(nn.Linear(256, 256)), energy=0.5)
    >>> [type(x).__name__ for x in m[0]]
    ['Linear', 'Linear']
    """
    if not 0.0 < energy <= 1.0:
        raise LowRankError(
            f"energy must be in (0, 1] (the fraction of squared singular values kept), got {energy}"
        )
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
        if not (is_linear or is_pointwise) or module.weight.numel() < min_params:
            continue
        weight = module.weight.detach().reshape(module.weight.shape[0], -1).float()
        out_f, in_f = weight.shape
        rank = _rank_for(torch.linalg.svdvals(weight), energy)
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
    model.edgekit_lowrank = choices  # type: ignore[assignment]
    return model
