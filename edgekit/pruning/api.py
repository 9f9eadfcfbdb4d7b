"""``prune``: structured channel pruning on torch-pruning's dependency graph (DepGraph)."""

from __future__ import annotations

import copy
import difflib
import logging
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from edgekit.deprecation import warn_old_style
from edgekit.errors import PruningError
from edgekit.placement import device_of
from edgekit.pruning.config import PruneConfig, Scope
from edgekit.pruning.importance import importance as make_importance
from edgekit.pruning.result import LayerChange, PruneResult
from edgekit.results import unwrap_model
from edgekit.tensorio import as_example_tuple

log = logging.getLogger(__name__)

Finetune = Callable[[nn.Module, int], Any]
"""``finetune(model, step)``: called after each of ``steps`` pruning steps."""
LossFn = Callable[[nn.Module], torch.Tensor]
"""``loss_fn(model) -> loss`` on a training batch (for ``importance="taylor"``)."""

_MAX_RATIO = 0.95  # the most a target_macs search removes from any layer
_SEARCH_STEPS = 40  # resolution of the target_macs search (0.95 / 40 = 2.4% of channels per step)


def _channels(model: nn.Module) -> dict[str, tuple[str, int]]:
    out = {}
    for name, m in model.named_modules():
        if isinstance(m, nn.Conv2d | nn.Conv1d):
            out[name] = ("conv", m.out_channels)
        elif isinstance(m, nn.Linear):
            out[name] = ("linear", m.out_features)
    return out


def _count(model: nn.Module, example: tuple[torch.Tensor, ...]) -> tuple[int, int]:
    import torch_pruning as tp

    macs, params = tp.utils.count_ops_and_params(model, example)
    return int(macs), int(params)


def _ignored_names(model: nn.Module, original: nn.Module, ignored: Sequence[str | nn.Module]) -> list[str]:
    """Names (in ``model``, a deep copy of ``original``) of the layers left intact."""
    named = dict(model.named_modules())
    if not ignored:  # default: the final classifier (the last Linear, else the last conv)
        last = [n for n, m in named.items() if isinstance(m, nn.Linear)] or [
            n for n, m in named.items() if isinstance(m, nn.Conv1d | nn.Conv2d)
        ]
        return last[-1:]
    names = []
    for item in ignored:
        name = item if isinstance(item, str) else _name_of(original, item)
        if name not in named:
            close = difflib.get_close_matches(name, [n for n in named if n], n=3)
            raise PruningError(
                f"ignored layer {name!r} is not in the model"
                + (
                    f"; did you mean {', '.join(close)}?"
                    if close
                    else "; see model.named_modules() for names"
                )
            )
        names.append(name)
    return names


def _name_of(root: nn.Module, module: nn.Module) -> str:
    for name, m in root.named_modules():
        if m is module:
            return name
    raise PruningError(f"ignored layer {type(module).__name__} is not a module of this model")


def _channel_shuffle(output: Any) -> bool:
    """True when the autograd graph has a channel shuffle: a 4-D tensor viewed as (N, groups, C/groups, ...)
    whose axes 1 and 2 are then swapped. It interleaves channels of different branches."""
    outs = output if isinstance(output, list | tuple) else [output]
    stack: list[Any] = [o.grad_fn for o in outs if isinstance(o, torch.Tensor) and o.grad_fn is not None]
    seen: set[Any] = set()
    while stack:
        fn = stack.pop()
        if fn is None or fn in seen:
            continue
        seen.add(fn)
        name = type(fn).__name__
        swaps = (
            name == "TransposeBackward0"
            and {getattr(fn, "_saved_dim0", 0), getattr(fn, "_saved_dim1", 0)} == {1, 2}
        ) or (name == "PermuteBackward0" and tuple(getattr(fn, "_saved_dims", ()))[:3] == (0, 2, 1))
        if swaps:
            for source, _ in fn.next_functions:
                sizes = getattr(source, "_saved_self_sym_sizes", None)
                if (
                    type(source).__name__.startswith(("View", "Reshape", "UnsafeView"))
                    and sizes
                    and len(sizes) == 4
                ):
                    return True
        stack.extend(next_fn for next_fn, _ in fn.next_functions)
    return False


def _taylor_backward(model: nn.Module, loss_fn: LossFn) -> None:
    model.zero_grad()
    loss = loss_fn(model)
    if not isinstance(loss, torch.Tensor) or loss.numel() != 1 or loss.grad_fn is None:
        raise PruningError(
            "importance='taylor' needs gradients, but loss_fn(model) returned "
            + (
                f"a {type(loss).__name__}"
                if not isinstance(loss, torch.Tensor)
                else "a tensor without grad_fn"
            )
            + ": return a scalar loss computed from model(inputs) with autograd on (no torch.no_grad(), no .detach())"
        )
    loss.backward()


def _as_loss_fn(loss_fn: LossFn | tuple[torch.Tensor, torch.Tensor] | None) -> LossFn | None:
    if loss_fn is None or callable(loss_fn):
        return loss_fn
    if isinstance(loss_fn, tuple) and len(loss_fn) == 2:
        inputs, targets = loss_fn
        return lambda model: F.cross_entropy(model(inputs), targets)
    raise PruningError(
        f"loss_fn must be a callable loss_fn(model) -> loss or an (inputs, targets) batch, got {type(loss_fn).__name__}"
    )


def _run_pruner(
    work: nn.Module,
    example: tuple[torch.Tensor, ...],
    config: PruneConfig,
    ignored: list[str],
    *,
    ratio: float,
    steps: int,
    loss_fn: LossFn | None,
    after_step: Callable[[nn.Module, int], bool],
) -> int:
    """Prune ``work`` in ``steps`` linear steps up to ``ratio``; stop early when ``after_step`` is True."""
    import torch_pruning as tp

    pruner = tp.pruner.MetaPruner(
        work,
        example,
        importance=make_importance(config.importance),
        pruning_ratio=ratio,
        global_pruning=config.scope is Scope.GLOBAL,
        round_to=config.round_to,
        ignored_layers=[work.get_submodule(n) for n in ignored],
        iterative_steps=steps,
    )
    for step in range(steps):
        if config.needs_gradients and loss_fn is not None:
            _taylor_backward(work, loss_fn)
        pruner.step()
        if after_step(work, step):
            return step + 1
    return steps


def _ratio_for(
    work: nn.Module,
    example: tuple[torch.Tensor, ...],
    config: PruneConfig,
    ignored: list[str],
    loss_fn: LossFn | None,
    macs_before: int,
) -> tuple[float, nn.Module]:
    """The smallest ratio (in steps of 2.4%) whose pruned copy has at most ``config.target_macs`` MACs, and
    that copy."""
    target = float(config.target_macs or 0)
    if target >= macs_before:
        raise PruningError(f"target_macs {target:,.0f} is not below the model's {macs_before:,} MACs")
    probe = copy.deepcopy(work)
    reached: list[int] = []

    def reached_target(model: nn.Module, step: int) -> bool:
        reached.append(_count(model, example)[0])
        return reached[-1] <= target

    done = _run_pruner(
        probe,
        example,
        config,
        ignored,
        ratio=_MAX_RATIO,
        steps=_SEARCH_STEPS,
        loss_fn=loss_fn,
        after_step=reached_target,
    )
    if reached[-1] > target:
        raise PruningError(
            f"target_macs {target:,.0f} is not reachable: pruning {_MAX_RATIO:.0%} of prunable channels reached "
            f"{reached[-1]:,} MACs ({reached[-1] / macs_before:.2%} of {macs_before:,}); the ignored and "
            "unprunable layers dominate: lower the target or ignore fewer layers"
        )
    return _MAX_RATIO * done / _SEARCH_STEPS, probe


def _check_outputs(model: nn.Module, example: tuple[torch.Tensor, ...], expected: list[torch.Size]) -> None:
    try:
        with torch.no_grad():
            out = model(*example)
    except Exception as exc:
        raise PruningError(
            f"the pruned model no longer runs ({type(exc).__name__}: {exc}); its graph has a dependency "
            "torch-pruning did not track: add the layers involved to ignored_layers. The model is unchanged"
        ) from exc
    outs = out if isinstance(out, list | tuple) else [out]
    shapes = [o.shape for o in outs if isinstance(o, torch.Tensor)]
    if shapes != expected:
        raise PruningError(
            f"pruning changed the output shapes {expected} -> {shapes}: add the output layers to ignored_layers. "
            "The model is unchanged"
        )


_OLD_KEYWORDS = ("ratio", "target_macs", "importance", "scope", "round_to", "ignored_layers", "steps")


def prune(
    model: nn.Module | Any,
    example_inputs: Any,
    config: PruneConfig | None = None,
    *,
    finetune: Finetune | None = None,
    loss_fn: LossFn | tuple[torch.Tensor, torch.Tensor] | None = None,
    **old_keywords: Any,
) -> PruneResult:
    """Remove whole channels; returns a :class:`PruneResult` whose ``.model`` is the pruned copy.

    ``config`` (:class:`PruneConfig`) says how much and how: ``ratio`` of channels per layer or overall,
    or a ``target_macs`` budget (searched in steps of 2.4% of channels), the ``importance`` criterion,
    ``round_to``, ``ignored_layers``, ``steps``. The caller's model is not changed (not even its
    train/eval flag): pruning works on a deep copy, so the original stays available as a distillation
    teacher. ``model`` may also be a result of another verb (its ``.model`` is used).
    ``example_inputs``: a tensor, a numpy array, or a list / tuple of them (one per model input).

    "taylor" importance needs ``loss_fn``: ``loss_fn(model) -> loss`` on a training batch, or an
    ``(inputs, targets)`` batch (cross-entropy). With ``steps`` > 1, ``finetune(model, step)`` runs after
    each step. Channel-shuffle models (ShuffleNet) are refused: their channels cannot stay consistent.
    On any failure a :class:`~edgekit.errors.PruningError` says why and nothing is changed.

    Deprecated (one release): the settings as keywords (``ek.prune(m, x, ratio=0.5)``) warn, and
    then, as before, the caller's model is pruned in place and also returned as ``result.model``.

    >>> import torchvision, torch, edgekit as ek
    >>> net = torchvision.models.resnet18(num_classes=10)
    >>> r = ek.prune(net, torch.rand(1, 3, 32, 32), config=ek.PruneConfig(ratio=0.5))
    >>> round(r.params_ratio, 2) < 0.3, r.model is net
    (True, False)
    """
    unknown = sorted(set(old_keywords) - set(_OLD_KEYWORDS))
    if unknown:
        raise TypeError(f"prune() got unexpected keyword argument(s) {', '.join(unknown)}")
    in_place = bool(old_keywords)
    if in_place:
        if config is not None:
            raise PruningError(
                f"give the settings either in config=PruneConfig(...) or as keywords ({', '.join(old_keywords)}), "
                "not both"
            )
        warn_old_style(
            f"ek.prune(model, x, {', '.join(f'{k}=...' for k in old_keywords)}) (in place)",
            "ek.prune(model, x, config=ek.PruneConfig(...)); the pruned copy is result.model",
        )
        if old_keywords.get("ratio") is None and old_keywords.get("target_macs") is None:
            raise PruningError(
                "give exactly one of ratio (fraction of channels to remove) or target_macs (MACs to prune down to)"
            )
        config = PruneConfig(**old_keywords)
    config = config if config is not None else PruneConfig()
    if not isinstance(config, PruneConfig):
        raise PruningError(f"config must be an ek.PruneConfig, got {type(config).__name__}")
    model = unwrap_model(model)
    if not isinstance(model, nn.Module):
        raise PruningError(f"prune() takes a torch.nn.Module, got {type(model).__name__}")
    loss = _as_loss_fn(loss_fn)
    if config.needs_gradients and loss is None:
        raise PruningError(
            "importance='taylor' ranks channels by gradient x weight and needs a loss on a training batch: pass "
            "loss_fn=lambda model: loss (edgekit calls backward on it) or loss_fn=(inputs, targets)"
        )
    example = as_example_tuple(example_inputs, error=PruningError, device=device_of(model))
    work = copy.deepcopy(model).eval()
    frozen = {name for name, p in work.named_parameters() if not p.requires_grad}
    for p in work.parameters():  # DepGraph traces through autograd; frozen parameters would hide their layers
        p.requires_grad_(True)
    out = work(*example)
    if _channel_shuffle(out):
        raise PruningError(
            f"{type(model).__name__} has a channel shuffle (reshape -> transpose -> reshape of the channel axis, as "
            "in ShuffleNet): it interleaves channels across branches, so removing channels in one branch "
            "breaks the other and torch-pruning cannot keep them consistent. Prune a model without channel "
            "shuffle, or use ek.sparsify for unstructured sparsity"
        )
    expected = [
        o.shape for o in (out if isinstance(out, list | tuple) else [out]) if isinstance(o, torch.Tensor)
    ]
    del out
    before = _channels(work)
    macs_before, params_before = _count(work, example)
    ignored = _ignored_names(work, model, config.ignored_layers)

    def after_step(pruned: nn.Module, step: int) -> bool:
        if finetune is not None:
            finetune(pruned, step)
        return False

    try:
        searched: nn.Module | None = None
        if config.ratio is not None:
            goal = config.ratio
        else:
            goal, searched = _ratio_for(work, example, config, ignored, loss, macs_before)
        if searched is not None and config.steps == 1 and finetune is None:
            work, done_steps = searched, 1  # the search's pruned copy is the answer
        else:
            done_steps = _run_pruner(
                work,
                example,
                config,
                ignored,
                ratio=goal,
                steps=config.steps,
                loss_fn=loss,
                after_step=after_step,
            )
    except PruningError:
        raise
    except Exception as exc:
        raise PruningError(
            f"torch-pruning could not prune {type(model).__name__}: {type(exc).__name__}: {exc}. The model is unchanged"
        ) from exc
    _check_outputs(work, example, expected)
    macs_after, params_after = _count(work, example)
    if params_after == params_before and goal:
        raise PruningError(
            f"torch-pruning found no channel it could remove in {type(model).__name__}: its dependency graph is traced "
            "through autograd from the outputs, so outputs must be tensors computed with gradients (no .detach(), "
            "no torch.no_grad() inside forward) and at least one Conv/Linear must not be ignored"
        )
    if config.target_macs is not None and macs_after > config.target_macs:
        raise PruningError(
            f"target_macs {config.target_macs:,.0f} missed: the search reached it, but after fine-tuning between "
            f"steps global ranking removed other channels ({macs_after:,} MACs); use scope='local' or steps=1"
        )
    for name, p in work.named_parameters():
        p.requires_grad_(name not in frozen)
    work.zero_grad(set_to_none=True)
    after = _channels(work)
    layers = [LayerChange(n, kind, c, after[n][1]) for n, (kind, c) in before.items() if n in after]
    if in_place:  # the deprecated style: the caller's object becomes the pruned model
        model.__dict__.update(work.__dict__)
        model.train(False)
        work = model
    else:
        work.train(model.training)
    result = PruneResult(work, params_before, params_after, macs_before, macs_after, layers, done_steps)
    log.info("pruned %s: %s", type(model).__name__, result.summary())
    return result
