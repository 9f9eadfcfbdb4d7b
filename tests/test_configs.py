"""Every verb's config: frozen, enums coerced from strings, ``to_dict``/``from_dict`` round trip, unknown keys
and bad versions refused with a ConfigError."""

from __future__ import annotations

import dataclasses
import json

import pytest

import edgekit as ek

CONFIGS = [
    ek.QuantConfig(calibrator="percentile", percentile=99.9, keep_float=("fc",)),
    ek.PruneConfig(ratio=0.3, importance="l1", scope="global", round_to=8, ignored_layers=["fc"]),
    ek.PruneConfig(target_macs=1e6),
    ek.DistillConfig(temperature=2.0, alpha=0.2, epochs=1),
    ek.LowRankConfig(energy=0.8, min_params=10),
    ek.SparsifyConfig(sparsity=0.7, scope="local"),
    ek.ExportConfig(opset=17, verify=False),
    ek.ConvertConfig(input_shapes={"input": (1, 3, 8, 8)}, verify=False),
    ek.CompareConfig(per_layer=True),
    ek.ProfileConfig(runs=5, warmup=1, threads=2, delegate="CPU", affinity=[0, 1]),
]


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: type(c).__name__)
def test_round_trip_through_json(config: object) -> None:
    data = config.to_dict()
    assert data["version"] == 1 == config.version
    again = type(config).from_dict(json.loads(json.dumps(data)))
    assert again == config
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(config, dataclasses.fields(config)[0].name, None)


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: type(c).__name__)
def test_every_field_has_a_default(config: object) -> None:
    type(config)()  # the recipe schema builds them from their fields' defaults


def test_unknown_key_and_newer_version_are_config_errors() -> None:
    with pytest.raises(ek.ConfigError, match=r"no field\(s\) 'ratoi'.*ratio"):
        ek.PruneConfig.from_dict({"ratoi": 0.5})
    with pytest.raises(ek.ConfigError, match="version 2 is not supported"):
        ek.QuantConfig.from_dict({"version": 2})
    with pytest.raises(ek.ConfigError, match="takes a dict"):
        ek.QuantConfig.from_dict([("calibrator", "mse")])  # type: ignore[arg-type]
    assert issubclass(ek.ConfigError, ek.EdgekitError) and issubclass(ek.ConfigError, ValueError)


def test_strings_become_enums_and_bad_values_name_the_choices() -> None:
    assert ek.QuantConfig(calibrator="mse").calibrator is ek.Calibrator.MSE
    assert ek.QuantConfig(calibrator="mse").calibrator == "mse"  # a str enum: old comparisons keep working
    assert ek.PruneConfig(scope="global").scope.value == "global"
    with pytest.raises(ek.PruningError, match="scope must be one of 'local', 'global'"):
        ek.PruneConfig(scope="galactic")
    with pytest.raises(ek.QuantizationError, match="unknown calibrator"):
        ek.QuantConfig(calibrator="magic")
    with pytest.raises(ek.RuntimeSettingError, match="runs"):
        ek.ProfileConfig(runs=0)
    with pytest.raises(ek.RuntimeSettingError, match="backend"):
        ek.ProfileConfig(backend="tvm")


def test_prune_config_defaults_to_half_the_channels_and_refuses_two_goals() -> None:
    assert ek.PruneConfig().ratio == 0.5
    with pytest.raises(ek.PruningError, match="not both"):
        ek.PruneConfig(ratio=0.5, target_macs=1e6)
