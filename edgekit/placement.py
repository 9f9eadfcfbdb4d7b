"""Where a model's tensors live: exports run on a CPU copy, comparisons feed the model's own device."""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)


def tensors_of(model: Any) -> list[Any]:
    """Parameters, buffers and (for exported GraphModules) plain tensor attributes the graph reads."""
    import torch

    tensors = [*model.parameters(), *model.buffers()]
    if isinstance(model, torch.fx.GraphModule):
        for node in model.graph.nodes:
            if node.op == "get_attr":
                value = _get(model, str(node.target))
                if isinstance(value, torch.Tensor):
                    tensors.append(value)
    return tensors


def _get(root: Any, target: str) -> Any:
    for part in target.split("."):
        root = getattr(root, part, None)
    return root


def on_cpu(model: Any) -> Any:
    """``model`` when it is on the CPU, else a CPU copy: the ONNX file and its parity run are made on the
    CPU, whatever device the model was trained on (the caller's model stays where it is)."""
    import copy

    import torch

    devices = {t.device.type for t in tensors_of(model)}
    if devices <= {"cpu"}:
        return model
    log.info("exporting a CPU copy of a model on %s", ", ".join(sorted(devices - {"cpu"})))
    moved = copy.deepcopy(model).cpu()
    if isinstance(moved, torch.fx.GraphModule):
        for node in moved.graph.nodes:
            target = str(node.target)
            value = _get(moved, target) if node.op == "get_attr" else None
            if isinstance(value, torch.Tensor) and value.device.type != "cpu":
                owner, _, name = target.rpartition(".")
                setattr(_get(moved, owner) if owner else moved, name, value.cpu())
    return moved


def device_of(model: Any) -> Any:
    """The device of ``model``'s first tensor (CPU for a model without any)."""
    import torch

    tensors = tensors_of(model)
    return tensors[0].device if tensors else torch.device("cpu")
