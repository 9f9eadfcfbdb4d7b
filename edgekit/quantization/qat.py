"""QAT helpers usable from any training loop (plain, DDP): freeze BatchNorm statistics and observers."""

from __future__ import annotations

from typing import Any

import torch
from torchao.quantization.pt2e import disable_observer

from edgekit.quantization.config import QuantConfig

_BN = {torch.ops.aten.batch_norm.default, torch.ops.aten._native_batch_norm_legit.default}


def _unwrap(model: Any) -> Any:
    return model.module if isinstance(model, torch.nn.parallel.DistributedDataParallel) else model


def freeze_bn_stats(model: Any) -> None:
    """Stop updating BatchNorm running statistics (BN then normalises with its running estimates)."""
    gm = _unwrap(model)
    changed = False
    for node in gm.graph.nodes:
        if (
            node.op == "call_function"
            and node.target == torch.ops.aten.batch_norm.default
            and node.args[5] is True
        ):
            node.args = (*node.args[:5], False, *node.args[6:])
            changed = True
    if changed:
        gm.recompile()


def freeze_observers(model: Any) -> None:
    """Stop updating activation/weight ranges; fake quantization keeps using the last ones."""
    _unwrap(model).apply(disable_observer)


def qat_step(model: Any, step: int, config: QuantConfig | None = None) -> None:
    """Call once per training step: applies ``config.freeze_bn_after`` / ``freeze_observers_after``.

    ``config`` defaults to the one the model was prepared with.
    """
    config = config or getattr(_unwrap(model), "_edgekit_quant_config", None) or QuantConfig()
    if config.freeze_bn_after is not None and step >= config.freeze_bn_after:
        freeze_bn_stats(model)
    if config.freeze_observers_after is not None and step >= config.freeze_observers_after:
        freeze_observers(model)
