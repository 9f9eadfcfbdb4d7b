"""Unstructured magnitude sparsity.

Zeros shrink the *compressed* file (zip/deflate), not the latency: dense CPU kernels (XNNPACK, ONNX
Runtime's default) multiply the zeros like any other number. Use ``ek.prune`` for speed.
"""

from __future__ import annotations

import os
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from torch import nn
from torch.nn.utils import prune as torch_prune

from edgekit.errors import EdgekitError


class SparsityError(EdgekitError, ValueError):
    """``sparsify`` was given a bad setting or a model without Conv / Linear weights."""


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


def sparsify(model: nn.Module, sparsity: float, *, scope: str = "global") -> nn.Module:
    """Zero the smallest-magnitude weights of every Conv / Linear layer; in place, returns the model.

    ``scope="global"`` ranks all weights together (layers end up with different sparsity);
    ``"local"`` zeroes the same fraction in each layer. The masks are made permanent. The per-layer
    result is in ``model.edgekit_sparsity`` (see :func:`sparsity_report`). Dense kernels do not get
    faster from zeros; the compressed size of the exported file shrinks (:func:`compressed_size`).

    >>> m = sparsify(nn.Sequential(nn.Linear(64, 64)), 0.5)
    >>> round(m.edgekit_sparsity[0].sparsity, 2)
    0.5
    """
    if not 0.0 <= sparsity < 1.0:
        raise SparsityError(f"sparsity must be in [0, 1) (the fraction of weights zeroed), got {sparsity}")
    if scope not in ("global", "local"):
        raise SparsityError(f"scope must be 'global' or 'local', got {scope!r}")
    layers = _weights(model)
    if not layers:
        raise SparsityError(
            f"{type(model).__name__} has no Conv1d / Conv2d / Linear layer: nothing to sparsify"
        )
    if scope == "global":
        torch_prune.global_unstructured(
            [(m, "weight") for _, m in layers], pruning_method=torch_prune.L1Unstructured, amount=sparsity
        )
    else:
        for _, m in layers:
            torch_prune.l1_unstructured(m, "weight", amount=sparsity)
    for _, m in layers:
        torch_prune.remove(m, "weight")
    model.edgekit_sparsity = sparsity_report(model)  # type: ignore[assignment]
    return model


def compressed_size(path: str | os.PathLike[str], level: int = 9) -> int:
    """Size in bytes of ``path`` after deflate (what a zip / an app bundle would store)."""
    return len(zlib.compress(Path(path).read_bytes(), level))


__all__ = ["LayerSparsity", "SparsityError", "compressed_size", "sparsify", "sparsity_report"]
