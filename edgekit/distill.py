"""Knowledge distillation (Hinton et al.): a student learns from a teacher's softened outputs."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


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
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
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
    pruned student against its unpruned teacher.
    """

    def __init__(self, teacher: nn.Module, *, temperature: float = 4.0, alpha: float = 0.5) -> None:
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
