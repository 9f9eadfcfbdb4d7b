"""Knowledge distillation (Hinton et al.): a student learns from a teacher's softened outputs."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from edgekit.errors import EdgekitError


class DistillationError(EdgekitError, ValueError):
    """A distillation setting is out of range (``alpha`` outside [0, 1], ``temperature`` <= 0)."""


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

    Use it as ``loss_fn`` of ``edgekit.demo.train`` or call it in any training loop, e.g. to fine-tune a
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
