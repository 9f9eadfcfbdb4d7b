"""Knowledge distillation loss: the formula, and that it moves a student towards its teacher."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import edgekit as ek
from edgekit.demo import DigitsCNN, load_digits_split
from edgekit.errors import DistillationError


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


def test_distill_verb_trains_a_copy_and_leaves_both_models_alone() -> None:
    torch.manual_seed(0)
    d = load_digits_split()
    teacher = ek.distill(  # a quick teacher: distilled from an untrained net with alpha=1 is plain training
        DigitsCNN(), d.x_train[:1], ek.DistillConfig(alpha=1.0, epochs=3), teacher=DigitsCNN(), data=d
    ).model
    student = DigitsCNN(widths=(8, 16, 16)).train()
    teacher.train()
    before = {k: v.clone() for k, v in student.state_dict().items()}
    result = ek.distill(
        student, [d.x_train[:1]], ek.DistillConfig(epochs=3, temperature=2.0), teacher=teacher, data=d
    )
    assert result.model is not student and len(result.losses) == 3 and result.losses[-1] < result.losses[0]
    assert result.accuracy is not None and result.teacher_accuracy is not None and result.accuracy > 0.5
    assert student.training and teacher.training, "train/eval flags are the caller's"
    assert all(torch.equal(before[k], v) for k, v in student.state_dict().items())
    assert (
        set(result.to_dict()) == {"losses", "accuracy", "teacher_accuracy"} and "epochs" in result.summary()
    )


def test_distill_refuses_mismatched_logits_and_bad_data() -> None:
    d = load_digits_split()
    wrong = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 3))
    with pytest.raises(DistillationError, match="same logits shape"):
        ek.distill(DigitsCNN(), d.x_train[:1], teacher=wrong, data=d)
    with pytest.raises(DistillationError, match="as many labels as inputs"):
        ek.distill(DigitsCNN(), d.x_train[:1], teacher=DigitsCNN(), data=(d.x_train[:10], d.y_train[:9]))
    with pytest.raises(DistillationError, match="SplitData or an"):
        ek.distill(DigitsCNN(), d.x_train[:1], teacher=DigitsCNN(), data=d.x_train)


def test_distill_config_round_trip_and_bad_values() -> None:
    config = ek.DistillConfig(temperature=2.0, alpha=0.25, epochs=1)
    assert ek.DistillConfig.from_dict(config.to_dict()) == config
    for bad, match in [
        ({"alpha": -0.1}, "alpha"),
        ({"epochs": -1}, "epochs"),
        ({"lr": 0}, "lr"),
        ({"batch_size": 1}, "batch_size"),
    ]:
        with pytest.raises(DistillationError, match=match):
            ek.DistillConfig(**bad)


def test_old_module_path_still_imports_and_stays_callable() -> None:
    import edgekit.distill as old

    assert old.Distiller is ek.Distiller and old.DistillConfig is ek.DistillConfig
    assert callable(ek.distill)  # importing the submodule must not break the verb
