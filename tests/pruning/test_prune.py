"""ek.prune on real torchvision architectures: consistent graphs that run and export."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest
import torch
import torchvision

import edgekit as ek
from edgekit.errors import PruningError
from edgekit.pruning import Importance


def _model(name: str) -> torch.nn.Module:
    torch.manual_seed(0)
    return torchvision.models.get_model(name, weights=None, num_classes=10).eval()


X = torch.rand(1, 3, 64, 64)


@pytest.mark.parametrize(
    "name",
    [
        "resnet18",
        "mobilenet_v2",
        "mobilenet_v3_small",
        "efficientnet_b0",
        "regnet_x_400mf",
        pytest.param("resnet50", marks=pytest.mark.slow),
    ],
)
def test_pruned_model_runs_and_exports(name: str, tmp_path: Path) -> None:
    model = _model(name)
    result = ek.prune(model, X, config=ek.PruneConfig(ratio=0.5, round_to=8))
    assert result.model is not model
    pruned = result.model
    assert result.macs_after < 0.5 * result.macs_before and result.params_after < 0.5 * result.params_before
    assert pruned(torch.rand(2, 3, 64, 64)).shape == (2, 10)
    assert [m for m in pruned.modules() if isinstance(m, torch.nn.Linear)][-1].out_features == 10
    changed = [c for c in result.layers if c.channels_after != c.channels_before]
    assert changed and all(
        c.channels_after % 8 == 0 for c in changed if c.kind == "conv" and c.channels_after > 8
    )
    exported = ek.export(result, X, tmp_path / f"{name}.onnx")
    onnx.checker.check_model(onnx.load(str(exported.path)))


def test_shufflenet_is_refused_naming_the_channel_shuffle() -> None:
    model = _model("shufflenet_v2_x0_5")
    before = sum(p.numel() for p in model.parameters())
    with pytest.raises(PruningError, match="channel shuffle"):
        ek.prune(model, X, ek.PruneConfig(ratio=0.3))
    assert sum(p.numel() for p in model.parameters()) == before, "the model is left unchanged"


@pytest.mark.parametrize("importance", ["l1", "l2", "bn_scale", "random"])
def test_importance_criteria(importance: str) -> None:
    result = ek.prune(_model("resnet18"), X, ek.PruneConfig(ratio=0.3, importance=importance))
    assert 0.3 < result.params_ratio < 0.7


def test_taylor_uses_the_loss() -> None:
    model = _model("resnet18")
    y = torch.randint(0, 10, (4,))
    xb = torch.rand(4, 3, 64, 64)
    calls = []

    def loss_fn(m: torch.nn.Module) -> torch.Tensor:
        calls.append(1)
        return torch.nn.functional.cross_entropy(m(xb), y)

    result = ek.prune(model, X, ek.PruneConfig(ratio=0.3, importance="taylor"), loss_fn=loss_fn)
    assert calls and result.params_after < result.params_before


def test_global_scope_prunes_layers_unevenly() -> None:
    result = ek.prune(_model("resnet18"), X, ek.PruneConfig(ratio=0.4, scope="global"))
    ratios = {round(c.channels_after / c.channels_before, 2) for c in result.layers if c.kind == "conv"}
    assert len(ratios) > 2


def test_iterative_steps_call_finetune_between_steps() -> None:
    seen: list[int] = []
    result = ek.prune(
        _model("mobilenet_v2"),
        X,
        ek.PruneConfig(ratio=0.4, steps=3),
        finetune=lambda m, step: seen.append(step),
    )
    assert seen == [0, 1, 2] and result.steps == 3


def test_target_macs_is_met() -> None:
    result = ek.prune(_model("resnet18"), X, ek.PruneConfig(target_macs=60e6))
    assert result.macs_after <= 60e6 < result.macs_before


def test_ignored_layer_by_name_keeps_its_channels() -> None:
    model = _model("resnet18")
    result = ek.prune(model, X, ek.PruneConfig(ratio=0.5, ignored_layers=["fc", "conv1"]))
    conv1 = next(c for c in result.layers if c.name == "conv1")
    assert conv1.channels_after == conv1.channels_before == 64


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"ratio": 1.0}, r"ratio must be in \[0, 1\)"),
        ({"ratio": -0.1}, r"ratio must be in \[0, 1\)"),
        ({"ratio": 0.5, "target_macs": 1e6}, "not both"),
        ({"ratio": 0.5, "importance": "taylor"}, "loss_fn"),
        ({"ratio": 0.5, "importance": "psychic"}, "unknown importance"),
        ({"ratio": 0.5, "ignored_layers": ["fcc"]}, "did you mean fc"),
        ({"ratio": 0.5, "scope": "galactic"}, "scope"),
        ({"target_macs": 1e3}, "not reachable.*reached"),
        ({"target_macs": 1e15}, "not below"),
        ({"ratio": 0.5, "round_to": 0}, "round_to"),
        ({"ratio": 0.5, "steps": 0}, "steps"),
        ({"ratio": 0.5, "importance": "taylor", "loss_fn": lambda m: torch.tensor(1.0)}, "needs gradients"),
        ({"ratio": 0.5, "importance": "taylor", "loss_fn": "batch"}, "loss_fn must be"),
    ],
)
def test_bad_arguments(kwargs: dict, message: str) -> None:
    loss = {"loss_fn": kwargs.pop("loss_fn")} if "loss_fn" in kwargs else {}
    with pytest.raises(PruningError, match=message):
        ek.prune(_model("resnet18"), X, ek.PruneConfig(**kwargs), **loss)


class Detached(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = torch.nn.Conv2d(3, 16, 3)
        self.conv2 = torch.nn.Conv2d(16, 8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.conv1(x).detach())  # breaks the autograd graph torch-pruning traces


def test_untraceable_model_gives_the_cause() -> None:
    model = Detached()
    with pytest.raises(PruningError, match=r"no \.detach"):
        ek.prune(model, torch.rand(1, 3, 8, 8), ek.PruneConfig(ratio=0.5, ignored_layers=["conv2"]))
    assert model.conv1.out_channels == 16


def test_frozen_parameters_are_pruned_and_stay_frozen() -> None:
    model = _model("resnet18")
    for p in model.parameters():
        p.requires_grad_(False)
    result = ek.prune(model, X, ek.PruneConfig(ratio=0.5))
    assert result.params_after < 0.5 * result.params_before
    assert not any(p.requires_grad for p in result.model.parameters())


def test_taylor_without_gradients_names_the_cause() -> None:
    model = _model("resnet18")
    xb, y = torch.rand(4, 3, 64, 64), torch.randint(0, 10, (4,))

    def no_grad_loss(m: torch.nn.Module) -> torch.Tensor:
        with torch.no_grad():
            return torch.nn.functional.cross_entropy(m(xb), y)

    with pytest.raises(PruningError, match=r"needs gradients.*without grad_fn"):
        ek.prune(model, X, ek.PruneConfig(ratio=0.3, importance="taylor"), loss_fn=no_grad_loss)
    assert model.conv1.out_channels == 64


def test_taylor_accepts_a_batch_and_ranks_differently_from_l2() -> None:
    batch = (torch.rand(4, 3, 64, 64), torch.randint(0, 10, (4,)))
    taylor = ek.prune(
        _model("resnet18"), X, ek.PruneConfig(ratio=0.5, importance=Importance.TAYLOR), loss_fn=batch
    )
    l2 = ek.prune(_model("resnet18"), X, ek.PruneConfig(ratio=0.5, importance="l2"))
    assert taylor.params_after == l2.params_after  # local scope: same counts, other channels
    kept = [m.weight for m in (taylor.model.conv1, l2.model.conv1)]
    assert not torch.equal(*kept)


def test_target_macs_with_iterative_finetune() -> None:
    seen: list[int] = []
    result = ek.prune(
        _model("mobilenet_v2"),
        X,
        ek.PruneConfig(target_macs=5e6, steps=2),
        finetune=lambda m, step: seen.append(step),
    )
    assert seen == [0, 1] and result.steps == 2
    assert result.macs_after <= 5e6 < result.macs_before


class ChannelShuffle(torch.nn.Module):
    """Two branches concatenated, then their channels interleaved (as in ShuffleNet)."""

    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = torch.nn.Conv2d(3, 8, 1), torch.nn.Conv2d(3, 8, 1)
        self.conv = torch.nn.Conv2d(16, 16, 3)
        self.fc = torch.nn.Linear(16, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.cat([self.a(x), self.b(x)], 1)
        n, c, h, w = y.shape
        y = y.view(n, 2, c // 2, h, w).transpose(1, 2).reshape(n, c, h, w)
        return self.fc(self.conv(y).mean((2, 3)))


def test_any_channel_shuffle_is_refused() -> None:
    model = ChannelShuffle()
    with pytest.raises(PruningError, match="ChannelShuffle has a channel shuffle"):
        ek.prune(model, torch.rand(1, 3, 8, 8), ek.PruneConfig(ratio=0.5))
    assert model.a.out_channels == 8


class ScaledByBuffer(torch.nn.Module):
    """A per-channel scale kept in a buffer: torch-pruning prunes parameters, not buffers."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = torch.nn.Conv2d(3, 16, 3)
        self.conv2 = torch.nn.Conv2d(16, 8, 3)
        self.fc = torch.nn.Linear(8, 10)
        self.register_buffer("scale", torch.linspace(0.5, 1.5, 16).view(1, 16, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.conv2(self.conv1(x) * self.scale).mean((2, 3)))


def test_a_pruned_model_that_no_longer_runs_is_not_returned() -> None:
    model = ScaledByBuffer()
    with pytest.raises(PruningError, match=r"no longer runs.*ignored_layers"):
        ek.prune(model, torch.rand(1, 3, 8, 8), ek.PruneConfig(ratio=0.5))
    assert model.conv1.out_channels == 16
    result = ek.prune(
        model, torch.rand(1, 3, 8, 8), ek.PruneConfig(ratio=0.5, ignored_layers=["conv1", "fc"])
    )
    pruned = result.model
    assert pruned.conv1.out_channels == 16 and pruned.conv2.out_channels == 4
    assert pruned(torch.rand(2, 3, 8, 8)).shape == (2, 10) and result.params_ratio < 1


def test_new_style_leaves_the_callers_model_and_its_mode_alone() -> None:
    model = _model("resnet18").train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    result = ek.prune(model, X, ek.PruneConfig(ratio=0.5))
    assert model.training and result.model.training, "the copy keeps the caller's train/eval mode"
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert model.conv1.out_channels == 64 and result.model.conv1.out_channels == 32
    assert not hasattr(model, "edgekit_prune")


@pytest.mark.parametrize(
    "example", [[X], (X,), X.numpy(), [X.numpy()]], ids=["list", "tuple", "numpy", "list-numpy"]
)
def test_example_inputs_as_list_tuple_or_numpy(example: object) -> None:
    result = ek.prune(_model("resnet18"), example, ek.PruneConfig(ratio=0.3))
    assert result.model(X).shape == (1, 10) and result.params_ratio < 0.7


def test_bad_example_inputs_are_a_pruning_error() -> None:
    with pytest.raises(PruningError, match="example input 0 is a str"):
        ek.prune(_model("resnet18"), "image.png", ek.PruneConfig(ratio=0.3))


def test_old_keyword_style_warns_and_prunes_in_place() -> None:
    model = _model("resnet18")
    with pytest.warns(
        DeprecationWarning, match=r"ek.prune\(model, x, ratio=\.\.\., round_to=\.\.\.\).*PruneConfig"
    ):
        result = ek.prune(model, X, ratio=0.5, round_to=8)
    assert result.model is model and model.conv1.out_channels == 32
    with pytest.raises(PruningError, match="exactly one of ratio"), pytest.warns(DeprecationWarning):
        ek.prune(_model("resnet18"), X, importance="l1")
    with pytest.raises(PruningError, match="either in config"):
        ek.prune(_model("resnet18"), X, ek.PruneConfig(ratio=0.5), ratio=0.5)


def test_a_result_chains_into_the_next_verb(tmp_path: Path) -> None:
    result = ek.prune(
        ek.prune(_model("resnet18"), X, ek.PruneConfig(ratio=0.3)), X, ek.PruneConfig(ratio=0.3)
    )
    assert result.params_ratio < 0.7
    assert ek.export(result, X, tmp_path / "twice.onnx").path.exists()
