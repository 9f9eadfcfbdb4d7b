"""Knowledge distillation (Hinton et al.): a student learns from a teacher's softened outputs."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from edgekit.config import VerbConfig
from edgekit.errors import DistillationError
from edgekit.results import VerbResult, unwrap_model
from edgekit.tensorio import as_example_tuple, to_numpy_list
from edgekit.training import SplitData, accuracy, train

__all__ = ["DistillConfig", "DistillResult", "DistillationError", "Distiller", "distill", "distill_loss"]


def _check(temperature: float, alpha: float) -> None:
    if not 0.0 <= alpha <= 1.0:
        raise DistillationError(f"alpha must be in [0, 1] (the weight of the hard-label loss), got {alpha}")
    if temperature <= 0:
        raise DistillationError(f"temperature must be > 0 (4 is a common choice), got {temperature}")


def distill_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    targets: torch.Tensor,
    *,
    temperature: float = 4.0,
    alpha: float = 0.5,
) -> torch.Tensor:
    """``alpha * CE(student, targets) + (1 - alpha) * T^2 * KL(softmax(teacher/T) || softmax(student/T))``.

    >>> s = torch.tensor([[2.0, 0.0]]); t = torch.tensor([[2.0, 0.0]])
    >>> float(distill_loss(s, t, torch.tensor([0]), alpha=0.0))
    0.0
    """
    _check(temperature, alpha)
    hard = F.cross_entropy(student_logits, targets)
    soft = F.kl_div(
        F.log_softmax(student_logits / temperature, dim=1),
        F.log_softmax(teacher_logits.detach() / temperature, dim=1),
        reduction="batchmean",
        log_target=True,
    )
    return alpha * hard + (1.0 - alpha) * temperature**2 * soft


class Distiller:
    """A loss ``(student_logits, targets, inputs) -> loss`` that runs a frozen teacher on the same inputs.

    Use it as ``loss_fn`` of :func:`edgekit.training.train` or call it in any training loop, e.g. to fine-tune a
    pruned student against its unpruned teacher (keep a copy of the model before ``ek.prune``).

    >>> teacher, student = nn.Linear(4, 3), nn.Linear(4, 3)
    >>> x, y = torch.randn(8, 4), torch.randint(0, 3, (8,))
    >>> loss = Distiller(teacher, temperature=2.0)(student(x), y, x)
    >>> loss.backward()  # gradients reach the student only
    >>> teacher.weight.grad is None, student.weight.grad is not None
    (True, True)
    """

    def __init__(self, teacher: nn.Module, *, temperature: float = 4.0, alpha: float = 0.5) -> None:
        _check(temperature, alpha)
        self.teacher = teacher.eval()  # run under no_grad below; the caller's parameters are left as they are
        self.temperature = temperature
        self.alpha = alpha

    def __call__(
        self, student_logits: torch.Tensor, targets: torch.Tensor, inputs: torch.Tensor
    ) -> torch.Tensor:
        with torch.no_grad():
            teacher_logits = self.teacher(inputs)
        return distill_loss(
            student_logits, teacher_logits, targets, temperature=self.temperature, alpha=self.alpha
        )


@dataclass(frozen=True)
class DistillConfig(VerbConfig):
    """Settings of :func:`distill`: the loss (``temperature``, ``alpha`` = weight of the hard-label loss)
    and the training budget (``epochs``, ``lr``, ``batch_size``, ``seed``).

    The teacher is an argument of :func:`distill`, not a field: configs are plain data that serialise
    (the recipe schema embeds them), a module does not.

    >>> DistillConfig(alpha=2.0)
    Traceback (most recent call last):
    ...
    edgekit.errors.DistillationError: alpha must be in [0, 1] (the weight of the hard-label loss), got 2.0
    """

    temperature: float = 4.0
    alpha: float = 0.5
    epochs: int = 4
    lr: float = 2e-3
    batch_size: int = 64
    seed: int = 0

    def __post_init__(self) -> None:
        _check(self.temperature, self.alpha)
        if not isinstance(self.epochs, int) or self.epochs < 0:
            raise DistillationError(f"epochs must be an integer >= 0, got {self.epochs!r}")
        if not self.lr > 0:
            raise DistillationError(f"lr must be > 0, got {self.lr}")
        if not isinstance(self.batch_size, int) or self.batch_size < 2:
            raise DistillationError(
                f"batch_size must be an integer >= 2 (BatchNorm), got {self.batch_size!r}"
            )


@dataclass
class DistillResult(VerbResult):
    """The trained copy of the student, its mean loss per epoch, and test accuracy (student and teacher)
    when the data has a test split."""

    model: Any
    losses: list[float] = field(default_factory=list)
    accuracy: float | None = None
    teacher_accuracy: float | None = None

    def summary(self) -> str:
        acc = (
            f", accuracy {self.accuracy:.4f} (teacher {self.teacher_accuracy:.4f})"
            if self.accuracy is not None and self.teacher_accuracy is not None
            else ""
        )
        last = f"{self.losses[-1]:.4f}" if self.losses else "n/a"
        return f"{len(self.losses)} epochs, final loss {last}{acc}"


def _split(data: Any) -> tuple[np.ndarray, np.ndarray, SplitData | None]:
    if isinstance(data, SplitData):
        return data.x_train, data.y_train, data
    if isinstance(data, tuple | list) and len(data) == 2:
        x, y = (np.asarray(a.numpy() if hasattr(a, "numpy") else a) for a in data)
        if len(x) != len(y) or len(x) < 2:
            raise DistillationError(
                f"data has {len(x)} inputs and {len(y)} labels: give as many labels as inputs (at least 2)"
            )
        return x.astype(np.float32), y.astype(np.int64), None
    raise DistillationError(
        f"data must be an edgekit.training.SplitData or an (inputs, labels) pair of arrays, got {type(data).__name__}"
    )


def distill(
    student: nn.Module | Any,
    example_inputs: Any,
    config: DistillConfig | None = None,
    *,
    teacher: nn.Module | Any,
    data: SplitData | tuple[Any, Any],
) -> DistillResult:
    """Train a copy of ``student`` on ``data`` against ``teacher``'s softened outputs (Hinton KD).

    ``data``: a :class:`~edgekit.training.SplitData` (test accuracy is reported) or an ``(inputs,
    labels)`` pair. ``example_inputs`` check that student and teacher give outputs of the same shape
    before any training. Neither the student nor the teacher is changed (not even their train/eval
    flags): the result's ``.model`` is the trained copy. Either may be another verb's result, e.g. the
    student from ``ek.prune`` and the unpruned model as teacher.

    >>> import numpy as np
    >>> x, y = np.random.rand(32, 4).astype(np.float32), np.arange(32) % 3
    >>> r = distill(nn.Linear(4, 3), x[:1], DistillConfig(epochs=1), teacher=nn.Linear(4, 3), data=(x, y))
    >>> len(r.losses)
    1
    """
    config = config if config is not None else DistillConfig()
    student, teacher = unwrap_model(student), unwrap_model(teacher)
    if not isinstance(student, nn.Module) or not isinstance(teacher, nn.Module):
        raise DistillationError(
            f"distill() takes torch modules as student and teacher, got {type(student).__name__} and "
            f"{type(teacher).__name__}"
        )
    x, y, split = _split(data)
    example = as_example_tuple(example_inputs, error=DistillationError)
    teacher_modes = [(m, m.training) for m in teacher.modules()]
    work = copy.deepcopy(student)
    try:
        teacher.eval()
        with torch.no_grad():
            shapes = (
                [o.shape for o in to_numpy_list(work.eval()(*example))],
                [o.shape for o in to_numpy_list(teacher(*example))],
            )
        if shapes[0] != shapes[1]:
            raise DistillationError(
                f"student outputs {shapes[0]} but teacher outputs {shapes[1]} on the example inputs: "
                "distillation needs the same logits shape (same number of classes)"
            )
        losses: list[float] = []
        train(
            work,
            x,
            y,
            epochs=config.epochs,
            lr=config.lr,
            batch_size=config.batch_size,
            seed=config.seed,
            loss_fn=Distiller(teacher, temperature=config.temperature, alpha=config.alpha),
            on_epoch=lambda _epoch, loss: losses.append(loss),
        )
        acc = teacher_acc = None
        if split is not None:
            acc = accuracy(work, split.x_test, split.y_test)
            teacher_acc = accuracy(teacher, split.x_test, split.y_test)
    finally:
        for module, training in teacher_modes:
            module.training = training
    work.train(student.training)
    return DistillResult(work, losses, acc, teacher_acc)
