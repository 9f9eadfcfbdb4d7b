"""Low-rank factorization of Linear and 1x1 Conv layers."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import edgekit as ek
from edgekit.errors import LowRankError


def test_low_rank_weight_is_reproduced_with_fewer_parameters() -> None:
    torch.manual_seed(0)
    layer = nn.Linear(128, 96)
    with torch.no_grad():
        layer.weight.copy_(torch.randn(96, 8) @ torch.randn(8, 128))  # rank 8
    model = nn.Sequential(layer, nn.ReLU(), nn.Conv2d(1, 1, 1))
    x = torch.randn(4, 128)
    expected = model[0](x)
    result = ek.lowrank(model, config=ek.LowRankConfig(energy=0.999, min_params=1000))  # SVD needs no data
    (choice,) = result.layers
    assert choice.rank == 8 and choice.params_after == 8 * (96 + 128) < choice.params_before
    assert choice.to_dict()["reduction"] == pytest.approx(1 - 8 * (96 + 128) / (96 * 128))
    assert torch.allclose(result.model[0](x), expected, atol=1e-3)
    assert isinstance(model[0], nn.Linear) and not hasattr(model, "edgekit_lowrank"), (
        "the caller's model is unchanged"
    )
    assert result.to_dict()["layers"][0]["rank"] == 8 and "1 layers factorized" in result.summary()


def test_pointwise_conv_is_factorized_and_3x3_is_not() -> None:
    model = ek.lowrank(
        nn.Sequential(nn.Conv2d(64, 64, 1), nn.Conv2d(64, 64, 3)),
        config=ek.LowRankConfig(energy=0.5, min_params=100),
    ).model
    assert isinstance(model[0], nn.Sequential) and isinstance(model[1], nn.Conv2d)
    assert model(torch.randn(1, 64, 8, 8)).shape == (1, 64, 6, 6)


def test_full_rank_layer_is_left_alone() -> None:
    torch.manual_seed(0)
    result = ek.lowrank(
        nn.Sequential(nn.Linear(128, 128)), config=ek.LowRankConfig(energy=0.999, min_params=100)
    )
    assert isinstance(result.model[0], nn.Linear) and result.layers == []  # random: nearly full rank


def test_bad_settings() -> None:
    with pytest.raises(LowRankError, match="energy"):
        ek.LowRankConfig(energy=0)
    with pytest.raises(LowRankError, match="min_params"):
        ek.LowRankConfig(min_params=-1)
    with pytest.raises(ek.ConfigError, match="no field"):
        ek.LowRankConfig.from_dict({"energy": 0.5, "rank": 3})
    assert ek.LowRankConfig.from_dict(ek.LowRankConfig(energy=0.5).to_dict()) == ek.LowRankConfig(energy=0.5)


def test_old_style_warns_and_changes_the_model_in_place() -> None:
    model = nn.Sequential(nn.Linear(256, 256))
    with pytest.warns(DeprecationWarning, match="LowRankConfig"):
        out = ek.lowrank(model, energy=0.5)
    assert out is model and isinstance(model[0], nn.Sequential) and len(model.edgekit_lowrank) == 1
    with pytest.warns(DeprecationWarning), pytest.raises(LowRankError, match="energy"):
        ek.lowrank(nn.Linear(4, 4), energy=0)
