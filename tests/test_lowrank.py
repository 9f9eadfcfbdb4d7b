"""Low-rank factorization of Linear and 1x1 Conv layers."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import edgekit as ek
from edgekit.factorize import LowRankError


def test_low_rank_weight_is_reproduced_with_fewer_parameters() -> None:
    torch.manual_seed(0)
    layer = nn.Linear(128, 96)
    with torch.no_grad():
        layer.weight.copy_(torch.randn(96, 8) @ torch.randn(8, 128))  # rank 8
    model = nn.Sequential(layer, nn.ReLU(), nn.Conv2d(1, 1, 1))
    x = torch.randn(4, 128)
    expected = model[0](x)
    ek.lowrank(model, energy=0.999, min_params=1000)
    (choice,) = model.edgekit_lowrank
    assert choice.rank == 8 and choice.params_after == 8 * (96 + 128) < choice.params_before
    assert choice.to_dict()["reduction"] == pytest.approx(1 - 8 * (96 + 128) / (96 * 128))
    assert torch.allclose(model[0](x), expected, atol=1e-3)


def test_pointwise_conv_is_factorized_and_3x3_is_not() -> None:
    model = nn.Sequential(nn.Conv2d(64, 64, 1), nn.Conv2d(64, 64, 3))
    ek.lowrank(model, energy=0.5, min_params=100)
    assert isinstance(model[0], nn.Sequential) and isinstance(model[1], nn.Conv2d)
    assert model(torch.randn(1, 64, 8, 8)).shape == (1, 64, 6, 6)


def test_full_rank_layer_is_left_alone() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(128, 128))
    ek.lowrank(model, energy=0.999, min_params=100)  # a random matrix needs nearly full rank
    assert isinstance(model[0], nn.Linear) and model.edgekit_lowrank == []


def test_bad_energy() -> None:
    with pytest.raises(LowRankError, match="energy"):
        ek.lowrank(nn.Linear(4, 4), energy=0)
