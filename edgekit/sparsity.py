"""Unstructured magnitude sparsity.

Zeros shrink the *compressed* file (zip/deflate), not the latency: dense CPU kernels (XNNPACK, ONNX
Runtime's default) multiply the zeros like any other number. Use ``ek.prune`` for speed.
"""

from __future__ import annotations

import copy
import os
import zlib
from dataclasses import asdict, dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from torch import nn
from torch.nn.utils import prune as torch_prune

from edgekit.config import VerbConfig, coerce_enum
from edgekit.deprecation import warn_old_style
from edgekit.errors import SparsityError
from edgekit.results import VerbResult, unwrap_model


class SparsityScope(str, Enum):
    """``GLOBAL``: all weights ranked together; ``LOCAL``: the same fraction zeroed in each layer."""

    GLOBAL = "global"
    LOCAL = "local"


@dataclass(frozen=True)
class SparsifyConfig(VerbConfig):
    """Settings of :func:`sparsify`: the fraction of weights zeroed and how they are ranked.

    >>> SparsifyConfig(sparsity=1.0)
    Traceback (most recent call last):
    ...
    edgekit.errors.SparsityError: sparsity must be in [0, 1) (the fraction of weights zeroed), got 1.0
    """

    sparsity: float = 0.5
    scope: SparsityScope | str = SparsityScope.GLOBAL

    def __post_init__(self) -> None:
        if not isinstance(self.sparsity, int | float) or not 0.0 <= self.sparsity < 1.0:
            raise SparsityError(
                f"sparsity must be in [0, 1) (the fraction of weights zeroed), got {self.sparsity}"
            )
        coerce_enum(self, "scope", SparsityScope, SparsityError)


@dataclass(frozen=True)
class LayerSparsity:
    name: str
    zeros: int
    total: int

    @property
    def sparsity(self) -> float:
        return self.zeros / max(self.total, 1)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "sparsity": self.sparsity}


def _weights(model: nn.Module) -> list[tuple[str, nn.Conv1d | nn.Conv2d | nn.Linear]]:
    return [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Conv1d | nn.Conv2d | nn.Linear)]


def sparsity_report(model: nn.Module) -> list[LayerSparsity]:
    """Zeros per Conv / Linear weight."""
    return [LayerSparsity(n, int((m.weight == 0).sum()), m.weight.numel()) for n, m in _weights(model)]


@dataclass
class SparsifyResult(VerbResult):
    """The sparse model and the zeros per Conv / Linear weight."""

    model: Any
    layers: list[LayerSparsity] = field(default_factory=list)

    @property
    def sparsity(self) -> float:
        """Zeros over all Conv / Linear weights."""
        return sum(r.zeros for r in self.layers) / max(sum(r.total for r in self.layers), 1)

    def summary(self) -> str:
        return f"{self.sparsity:.1%} of the weights of {len(self.layers)} layers are zero"


def _zero(model: nn.Module, config: SparsifyConfig) -> list[LayerSparsity]:
    layers = _weights(model)
    if not layers:
        raise SparsityError(
            f"{type(model).__name__} has no Conv1d / Conv2d / Linear layer: nothing to sparsify"
        )
    if config.scope is SparsityScope.GLOBAL:
        torch_prune.global_unstructured(
            [(m, "weight") for _, m in layers],
            pruning_method=torch_prune.L1Unstructured,
            amount=config.sparsity,
        )
    else:
        for _, m in layers:
            torch_prune.l1_unstructured(m, "weight", amount=config.sparsity)
    for _, m in layers:
        torch_prune.remove(m, "weight")
    return sparsity_report(model)


def sparsify(
    model: nn.Module | Any,
    example_inputs: Any = None,
    config: SparsifyConfig | None = None,
    **old_keywords: Any,
) -> SparsifyResult | nn.Module:
    """Zero the smallest-magnitude weights of every Conv / Linear layer; returns a :class:`SparsifyResult`.

    ``scope="global"`` ranks all weights together (layers end up with different sparsity);
    ``"local"`` zeroes the same fraction in each layer. The masks are made permanent. The caller's model
    is not changed; the result's ``.model`` is the sparse copy. ``example_inputs`` are accepted for the
    one verb shape and not needed (magnitudes need no data). Dense kernels do not get faster from zeros;
    the compressed size of the exported file shrinks (:func:`compressed_size`).

    Deprecated (one release): ``sparsify(model, 0.5, scope=...)`` (a number as the second argument)
    warns, changes the model in place and returns it with the report in ``model.edgekit_sparsity``.

    >>> r = sparsify(nn.Sequential(nn.Linear(64, 64)), config=SparsifyConfig(sparsity=0.5))
    >>> round(r.layers[0].sparsity, 2)
    0.5
    """
    if isinstance(example_inputs, int | float) and not isinstance(example_inputs, bool):
        unknown = sorted(set(old_keywords) - {"scope"})
        if unknown or config is not None:
            raise TypeError(f"sparsify() got unexpected argument(s) {', '.join(unknown) or 'config'}")
        warn_old_style(
            "ek.sparsify(model, sparsity, scope=...) (in place, report on model.edgekit_sparsity)",
            "ek.sparsify(model, x, config=ek.SparsifyConfig(sparsity=...)), which returns a SparsifyResult",
        )
        model.edgekit_sparsity = _zero(model, SparsifyConfig(example_inputs, **old_keywords))
        return model
    if old_keywords:
        raise TypeError(f"sparsify() got unexpected keyword argument(s) {', '.join(sorted(old_keywords))}")
    config = config if config is not None else SparsifyConfig()
    work = copy.deepcopy(unwrap_model(model))
    if not isinstance(work, nn.Module):
        raise SparsityError(f"sparsify() takes a torch.nn.Module, got {type(work).__name__}")
    return SparsifyResult(work, _zero(work, config))


def compressed_size(path: str | os.PathLike[str], level: int = 9) -> int:
    """Size in bytes of ``path`` after deflate (what a zip / an app bundle would store)."""
    return len(zlib.compress(Path(path).read_bytes(), level))


__all__ = [
    "LayerSparsity",
    "SparsifyConfig",
    "SparsifyResult",
    "SparsityError",
    "SparsityScope",
    "compressed_size",
    "sparsify",
    "sparsity_report",
]
