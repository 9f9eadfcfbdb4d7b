"""Training helpers the verbs share: a labelled train/test split, a deterministic loop, predict, accuracy.

They used to live in ``edgekit.demo`` (with the split called ``DigitsData`` even for an image folder);
``ek.distill``, the recipe runner and the tests fine-tune with them, so they are library code.
The loop is deliberately small (Adam + one-cycle schedule, CPU-friendly budgets); bring your own loop
for anything larger — every verb works on plain modules.

>>> import torch
>>> data = SplitData(np.zeros((4, 2), np.float32), np.array([0, 1, 0, 1]), np.zeros((2, 2), np.float32), np.array([0, 1]))
>>> data.input_shape, len(data.calibration_batches(3, batch_size=2))
((2,), 2)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from edgekit.results import unwrap_model

LossFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
"""loss(student_logits, targets, inputs) -> scalar loss."""


@dataclass(frozen=True)
class SplitData:
    """A fixed train/test split: float32 inputs in the model's layout (NCHW for images), int64 labels."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    def calibration_batches(self, n: int = 256, batch_size: int = 32) -> list[np.ndarray]:
        """The first ``n`` training inputs in batches (deterministic), e.g. for ``ek.quantize(calibrate=)``."""
        x = self.x_train[:n]
        return [x[i : i + batch_size] for i in range(0, len(x), batch_size)]


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

    ``on_epoch(epoch, mean_loss)`` is called after every epoch (progress bars, logging). The model is
    trained in place (a training loop's job) and returned in eval mode.
    """
    model = unwrap_model(model)
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
    model: nn.Module | Callable[[np.ndarray], Any] | Any, x: np.ndarray, batch_size: int = 256
) -> np.ndarray:
    """Logits for ``x``; ``model`` is a torch module, a verb's result, or any numpy callable (e.g.
    ``edgekit.runtime.Model``)."""
    model = unwrap_model(model)
    outs = []
    for xb in batches(x, batch_size):
        if isinstance(model, nn.Module):
            outs.append(model(torch.from_numpy(xb)).detach().numpy())
        else:
            outs.append(np.asarray(model(xb)))
    return np.concatenate(outs)


def accuracy(model: nn.Module | Callable[[np.ndarray], Any] | Any, x: np.ndarray, y: np.ndarray) -> float:
    """Top-1 accuracy in [0, 1] (a torch module is put in eval mode; a verb's result is unwrapped)."""
    model = unwrap_model(model)
    if isinstance(model, nn.Module):
        model.eval()
    return float((predict(model, x).argmax(1) == y).mean())
