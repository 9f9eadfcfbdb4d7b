"""Knowledge distillation loss: the formula, and that it moves a student towards its teacher."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import edgekit as ek
from edgekit.demo import DigitsCNN, load_digits_split
from edgekit.distill import DistillationError


def test_matches_the_hinton_formula() -> None:
    torch.manual_seed(0)
    s, t, y = torch.randn(8, 10), torch.randn(8, 10), torch.randint(0, 10, (8,))
    T, a = 3.0, 0.3
    p_t = F.softmax(t / T, 1)
    kl = (p_t * (p_t.log() - F.log_softmax(s / T, 1))).sum(1).mean()
    expected = a * F.cross_entropy(s, y) + (1 - a) * T * T * kl
    assert torch.allclose(ek.distill_loss(s, t, y, temperature=T, alpha=a), expected, atol=1e-6)


def test_bad_alpha_and_temperature() -> None:
    s = torch.randn(2, 3)
    with pytest.raises(DistillationError, match="alpha"):
        ek.distill_loss(s, s, torch.tensor([0, 1]), alpha=1.5)
    with pytest.raises(DistillationError, match="temperature"):
        ek.distill_loss(s, s, torch.tensor([0, 1]), temperature=0)
    with pytest.raises(DistillationError, match="temperature"):
        ek.Distiller(torch.nn.Linear(3, 3), temperature=-1.0)  # refused when built, not at the first batch


def test_alpha_one_is_plain_cross_entropy_and_teacher_matters_otherwise() -> None:
    s, y = torch.randn(4, 10), torch.randint(0, 10, (4,))
    t1, t2 = torch.randn(4, 10), torch.randn(4, 10)
    assert torch.allclose(ek.distill_loss(s, t1, y, alpha=1.0), F.cross_entropy(s, y))
    assert not torch.allclose(ek.distill_loss(s, t1, y), ek.distill_loss(s, t2, y))


def test_distiller_pulls_the_student_towards_the_teacher() -> None:
    torch.manual_seed(0)
    d = load_digits_split()
    x, y = torch.from_numpy(d.x_train[:256]), torch.from_numpy(d.y_train[:256])
    teacher, student = DigitsCNN().eval(), DigitsCNN(widths=(8, 16, 16))
    loss = ek.Distiller(teacher, temperature=2.0, alpha=0.0)
    opt = torch.optim.Adam(student.parameters(), lr=3e-3)
    first = None
    for _ in range(30):
        value = loss(student(x), y, x)
        first = first if first is not None else float(value.detach())
        opt.zero_grad()
        value.backward()
        opt.step()
    assert float(value.detach()) < 0.5 * first
    assert all(p.grad is None for p in teacher.parameters()), "the teacher is never trained"
    assert all(p.requires_grad for p in teacher.parameters()), "the teacher's flags are not changed"
