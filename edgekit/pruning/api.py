"""``prune``: structured channel pruning on torch-pruning's dependency graph (DepGraph)."""

from __future__ import annotations

import copy
import difflib
import logging
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from edgekit.errors import PruningError
from edgekit.pruning.importance import importance as make_importance
from edgekit.pruning.result import LayerChange, PruneResult

log = logging.getLogger(__name__)

Finetune = Callable[[nn.Module, int], Any]
LossFn = Callable[[nn.Module], torch.Tensor]


def _channels(model: nn.Module) -> dict[str, tuple[str, int]]:
    out = {}
    for name, m in model.named_modules():
        if isinstance(m, nn.Conv2d | nn.Conv1d):
            out[name] = ("conv", m.out_channels)
        elif isinstance(m, nn.Linear):
            out[name] = ("linear", m.out_features)
    return out


def _count(model: nn.Module, example: Any) -> tuple[int, int]:
    import torch_pruning as tp

    macs, params = tp.utils.count_ops_and_params(model, example)
    return int(macs), int(params)


def _resolve_ignored(model: nn.Module, ignored: Sequence[str | nn.Module]) -> list[nn.Module]:
    named = dict(model.named_modules())
    if not ignored:  # default: the final classifier (the last Linear, else the last conv)
        last = [m for m in model.modules() if isinstance(m, nn.Linear)] or [
            m for m in model.modules() if isinstance(m, nn.Conv2d)
        ]
        return last[-1:]
    modules = []
    for item in ignored:
        if isinstance(item, nn.Module):
            modules.append(item)
            continue
        if item not in named:
            close = difflib.get_close_matches(item, list(named), n=3)
            raise PruningError(
                f"ignored layer {item!r} is not in the model"
                + (f"; did you mean {', '.join(close)}?" if close else "")
            )
        modules.append(named[item])
    return modules


def _check_model(model: nn.Module) -> None:
    kinds = {type(m).__module__ for m in model.modules()}
    if any(k.endswith("shufflenetv2") for k in kinds):
        raise PruningError(
            "ShuffleNetV2's channel shuffle (reshape -> transpose -> reshape of the channel axis) interleaves "
            "channels across branches, so pruning one branch breaks the other; torch-pruning cannot keep it "
            "consistent. Prune a model without channel shuffle, or use ek.sparsify for unstructured sparsity"
        )


def _forward_ok(model: nn.Module, example: tuple[torch.Tensor, ...], expected: list[torch.Size]) -> None:
    with torch.no_grad():
        out = model(*example)
    outs = out if isinstance(out, list | tuple) else [out]
    shapes = [o.shape for o in outs if isinstance(o, torch.Tensor)]
    if shapes != expected:
        raise PruningError(
            f"pruning changed the output shapes {expected} -> {shapes}; the model is left unchanged"
        )


def prune(
    model: nn.Module,
    example_inputs: Any,
    *,
    ratio: float | None = None,
    target_macs: float | None = None,
    importance: str | Any = "l2",
    scope: str = "local",
    round_to: int | None = None,
    ignored_layers: Sequence[str | nn.Module] = (),
    steps: int = 1,
    finetune: Finetune | None = None,
    loss_fn: LossFn | None = None,
) -> PruneResult:
    """Remove whole channels; the model is changed in place and returned as ``result.model``.

    ``ratio``: fraction of channels removed per prunable layer (``scope="local"``) or overall
    (``"global"``, ranked across layers). ``target_macs``: prune until MACs <= target instead.
    ``importance``: "l1", "l2", "bn_scale", "taylor" (needs ``loss_fn(model) -> loss``), "random", or a
    torch-pruning Importance. ``round_to``: keep channel counts multiples of N (8 suits NEON/XNNPACK).
    ``ignored_layers``: names or modules left intact (default: the final classifier). ``steps`` > 1 prunes
    iteratively and calls ``finetune(model, step)`` after each step. On any failure the model is unchanged.

    >>> import torchvision, torch, edgekit as ek
    >>> r = ek.prune(torchvision.models.resnet18(num_classes=10), torch.rand(1, 3, 32, 32), ratio=0.5)
    >>> round(r.params_ratio, 2) < 0.3
    True
    """
    import torch_pruning as tp

    if (ratio is None) == (target_macs is None):
        raise PruningError("give exactly one of ratio (fraction of channels to remove) or target_macs")
    if ratio is not None and not 0.0 <= ratio < 1.0:
        raise PruningError(f"ratio must be in [0, 1), got {ratio}")
    if scope not in ("local", "global"):
        raise PruningError(f"scope must be 'local' or 'global', got {scope!r}")
    if steps < 1:
        raise PruningError(f"steps must be >= 1, got {steps}")
    if importance == "taylor" and loss_fn is None:
        raise PruningError(
            "importance='taylor' ranks channels by gradient x weight: pass loss_fn=lambda model: loss on a "
            "training batch (edgekit calls backward on it)"
        )
    _check_model(model)
    example = example_inputs if isinstance(example_inputs, tuple) else (example_inputs,)
    work = copy.deepcopy(model).eval()
    frozen = {name for name, p in work.named_parameters() if not p.requires_grad}
    for p in work.parameters():  # DepGraph traces through autograd; frozen parameters would hide their layers
        p.requires_grad_(True)
    with torch.no_grad():
        out = work(*example)
    expected = [
        o.shape for o in (out if isinstance(out, list | tuple) else [out]) if isinstance(o, torch.Tensor)
    ]
    before = _channels(work)
    macs_before, params_before = _count(work, example)
    ignored = _resolve_ignored(
        work, [i if isinstance(i, str) else _same_in(work, model, i) for i in ignored_layers]
    )
    imp = make_importance(importance)
    if target_macs is not None:
        if target_macs >= macs_before:
            raise PruningError(
                f"target_macs {target_macs:,.0f} is not below the model's {macs_before:,} MACs"
            )
        ratio_goal, total_steps = 0.95, max(steps, 40)
    else:
        ratio_goal, total_steps = float(ratio), steps
    try:
        pruner = tp.pruner.MetaPruner(
            work,
            example,
            importance=imp,
            pruning_ratio=ratio_goal,
            global_pruning=scope == "global",
            round_to=round_to,
            ignored_layers=ignored,
            iterative_steps=total_steps,
        )
        done_steps = 0
        for step in range(total_steps):
            if loss_fn is not None and importance == "taylor":
                work.zero_grad()
                loss_fn(work).backward()
            pruner.step()
            done_steps += 1
            if finetune is not None and target_macs is None:
                finetune(work, step)
            if target_macs is not None and _count(work, example)[0] <= target_macs:
                break
    except PruningError:
        raise
    except Exception as exc:
        raise PruningError(
            f"torch-pruning could not prune {type(model).__name__}: {type(exc).__name__}: {exc} — the model is unchanged"
        ) from exc
    macs_after, params_after = _count(work, example)
    if params_after == params_before and (target_macs is not None or ratio):
        raise PruningError(
            f"torch-pruning found no channel it could remove in {type(model).__name__}: its dependency graph is traced "
            "through autograd from the outputs, so outputs must be tensors computed with gradients (no .detach(), "
            "no torch.no_grad() inside forward) and at least one Conv/Linear must not be ignored"
        )
    if target_macs is not None and macs_after > target_macs:
        raise PruningError(
            f"target_macs {target_macs:,.0f} is not reachable: pruning 95% of prunable channels reached "
            f"{macs_after:,} MACs ({macs_after / macs_before:.2%} of {macs_before:,}); unpruned layers dominate"
        )
    _forward_ok(work, example, expected)
    for name, p in work.named_parameters():
        p.requires_grad_(name not in frozen)
    after = _channels(work)
    layers = [LayerChange(n, kind, c, after[n][1]) for n, (kind, c) in before.items() if n in after]
    model.__dict__.update(work.__dict__)  # in place: the caller's object now is the pruned model
    model.train(False)
    result = PruneResult(model, params_before, params_after, macs_before, macs_after, layers, done_steps)
    log.info("pruned %s: %s", type(model).__name__, result.summary())
    return result


def _same_in(copy_root: nn.Module, original_root: nn.Module, module: nn.Module) -> str:
    for name, m in original_root.named_modules():
        if m is module:
            return name
    raise PruningError(f"ignored layer {type(module).__name__} is not a module of this model")
