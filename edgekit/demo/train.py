"""A minimal, deterministic training loop and accuracy for the demo models (CPU, small budgets)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import torch
from torch import nn

LossFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
"""loss(student_logits, targets, inputs) -> scalar loss."""


def batches(x: np.ndarray, batch_size: int = 64) -> Iterator[np.ndarray]:
    """Consecutive batches of ``x`` (the last one may be smaller)."""
    for i in range(0, len(x), batch_size):
        yield x[i : i + batch_size]


def train(
    model: nn.Module,
    x: np.ndarray,
    y: np.ndarray,
    *,
    epochs: int = 10,
    lr: float = 3e-3,
    batch_size: int = 64,
    seed: int = 0,
    loss_fn: LossFn | None = None,
    on_epoch: Callable[[int, float], None] | None = None,
) -> nn.Module:
    """Train ``model`` with Adam + cosine schedule; ``loss_fn`` replaces cross-entropy (e.g. for KD).

    ``on_epoch(epoch, mean_loss)`` is called after every epoch (progress bars, logging).
    """
    gen = torch.Generator().manual_seed(seed)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=lr)
    steps = epochs * ((len(x) + batch_size - 1) // batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=max(steps, 1))
    ce = nn.CrossEntropyLoss()
    model.train()
    for epoch in range(epochs):
        order = torch.randperm(len(x), generator=gen)
        total, count = 0.0, 0
        for i in range(0, len(x), batch_size):
            idx = order[i : i + batch_size]
            if len(idx) < 2:  # BatchNorm needs two samples
                continue
            xb, yb = xt[idx], yt[idx]
            logits = model(xb)
            loss = loss_fn(logits, yb, xb) if loss_fn is not None else ce(logits, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
            count += len(idx)
        if on_epoch is not None:
            on_epoch(epoch, total / max(count, 1))
    model.eval()
    return model


@torch.no_grad()
def predict(
    model: nn.Module | Callable[[np.ndarray], np.ndarray], x: np.ndarray, batch_size: int = 256
) -> np.ndarray:
    """Logits for ``x``; ``model`` is a torch module or any numpy callable (e.g. edgekit.runtime.Model)."""
    outs = []
    for xb in batches(x, batch_size):
        if isinstance(model, nn.Module):
            outs.append(model(torch.from_numpy(xb)).detach().numpy())
        else:
            outs.append(np.asarray(model(xb)))
    return np.concatenate(outs)


def accuracy(model: nn.Module | Callable[[np.ndarray], np.ndarray], x: np.ndarray, y: np.ndarray) -> float:
    """Top-1 accuracy in [0, 1]."""
    if isinstance(model, nn.Module):
        model.eval()
    return float((predict(model, x).argmax(1) == y).mean())
