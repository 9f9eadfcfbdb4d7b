"""Search space / config validation and YAML search files (no torch: fast)."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgekit.autocompress import QuantMode, SearchConfig, SearchSpace
from edgekit.autocompress.loader import load_search_file
from edgekit.errors import RecipeError, SearchSpaceError


def test_defaults_cover_pruning_distillation_and_quantization() -> None:
    space = SearchSpace()
    assert space.prune_ratio == (0.0, 0.75) and set(space.distill) == {False, True}
    assert set(space.quant) == set(QuantMode) - {QuantMode.INT16X8_PTQ} and "mse" in space.calibrator
    assert space.qat_epochs == (2,)


def test_quant_modes_map_to_quant_schemes() -> None:
    from edgekit import QuantConfig

    for mode in QuantMode:
        if mode.scheme is not None:  # every mode names a scheme QuantConfig accepts
            assert QuantConfig(scheme=mode.scheme).scheme.value == mode.scheme
    assert [m.value for m in QuantMode if m.calibrated] == ["int8_ptq", "int8_qat", "int16x8_ptq"]
    assert [m.value for m in QuantMode if m.qat] == ["int8_qat"]


def _sampled(space: SearchSpace, n: int) -> list:
    import optuna

    from edgekit.autocompress.space import sample

    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    return [sample(study.ask(), space) for _ in range(n)]


def test_sampling_asks_only_what_the_mode_uses() -> None:
    space = SearchSpace.from_dict(
        {
            "prune_ratio": [0.0, 0.0],
            "quant": ["float", "int8_qat", "dynamic_int8", "float16", "int16x8_ptq"],
            "qat_epochs": [1, 3],
            "keep_float": [0, 1],
            "calibrator": ["minmax", "mse"],
        }
    )
    points = _sampled(space, 60)
    assert {p.quant for p in points} == set(space.quant)
    for p in points:
        assert (p.qat_epochs in (1, 3)) if p.quant.qat else p.qat_epochs == 0
        assert p.distill in ((False, True) if p.quant.qat else (False,))  # KD needs training epochs
        key = p.quant_key()
        assert ("calibrator" in key and "keep_float" in key) == p.quant.calibrated
        assert ("qat_epochs" in key and "distill" in key) == p.quant.qat
    assert {p.qat_epochs for p in points if p.quant.qat} == {1, 3}
    assert {p.distill for p in points if p.quant.qat} == {False, True}


def test_qat_epochs_take_one_value_or_choices() -> None:
    assert SearchSpace(qat_epochs=3).qat_epochs == (3,)  # type: ignore[arg-type]
    assert SearchSpace.from_dict({"qat_epochs": 3}).qat_epochs == (3,)
    assert SearchSpace.from_dict({"qat_epochs": [1, 2]}).to_dict()["qat_epochs"] == [1, 2]
    with pytest.raises(SearchSpaceError, match="qat_epochs"):
        SearchSpace.from_dict({"qat_epochs": [-1]})


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ({"prune_ratio": [0.8, 0.2]}, ["prune_ratio", "reversed"]),
        ({"importance": ["l2", "magic"]}, ["importance", "magic", "choose from"]),
        ({"quant": ["int4"]}, ["quant", "int4"]),
        ({"pruning": 0.5}, ["pruning", "unknown key"]),
        ({"finetune_epochs": [-1]}, ["finetune_epochs", "negative"]),
        ({"prune_ratio": [0, 0.5], "target_macs": [0.2, 0.5]}, ["target_macs", "prune_ratio"]),
        ({"distill": ["yes"]}, ["distill", "wrong type"]),
    ],
)
def test_invalid_space_names_the_key(data: dict, words: list[str]) -> None:
    with pytest.raises(SearchSpaceError) as info:
        SearchSpace.from_dict(data)
    assert all(w in str(info.value) for w in words), str(info.value)
    assert isinstance(info.value, RecipeError)  # a recipe step reports it like the other schema errors


def test_target_macs_replaces_the_ratio_range() -> None:
    space = SearchSpace.from_dict({"target_macs": [0.2, 0.6]})
    assert space.prune_ratio is None and space.target_macs == (0.2, 0.6)


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"objectives": ["accuracy", "speed"]}, "objectives"),
        ({"budget": 0}, "budget"),
        ({"sampler": "grid"}, "sampler"),
        ({"min_accuracy": 95}, "min_accuracy"),
        ({"storage": "mysql://x"}, "storage"),
    ],
)
def test_invalid_config_names_the_key(data: dict, key: str) -> None:
    with pytest.raises(SearchSpaceError, match=key):
        SearchConfig.from_dict(data)


def test_yaml_search_file_errors_carry_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "search.yaml"
    path.write_text(
        "model: {demo: cnn, epochs: 2}\n"
        "space:\n"
        "  prune_ratio: [0.0, 0.5]\n"
        "  importance: [l2, nonsense]\n"
        "config:\n"
        "  budget: 3\n"
    )
    with pytest.raises(SearchSpaceError) as info:
        load_search_file(path)
    assert f"{path}:4: importance" in str(info.value)

    path.write_text("space:\n  quant: [float]\nconfig:\n  budget: 3\n  speed: fast\n")
    with pytest.raises(SearchSpaceError, match=rf"{path}:5: speed: unknown key"):
        load_search_file(path)

    path.write_text("space:\n  quant: [float\n")
    with pytest.raises(SearchSpaceError, match="not valid YAML"):
        load_search_file(path)


def test_yaml_search_file_loads(tmp_path: Path) -> None:
    path = tmp_path / "search.yaml"
    path.write_text(
        "model: {demo: resnet, epochs: 2}\nspace:\n  quant: [float, int8_qat]\n  resolution: [null, 16]\n"
        "config:\n  budget: 5\n  min_accuracy: 0.9\n  objectives: [accuracy, latency_ms, size_bytes]\n"
    )
    spec = load_search_file(path)
    assert spec.model["demo"] == "resnet" and spec.space.resolution == (None, 16)
    assert spec.config.budget == 5 and spec.config.directions == ["maximize", "minimize", "minimize"]


def test_ek_search_is_the_function_even_after_importing_the_package() -> None:
    import edgekit as ek
    import edgekit.autocompress.storage  # binds the subpackage on edgekit

    assert callable(ek.search) and ek.search.__module__ == "edgekit.autocompress.api"


def test_space_accepts_mode_names() -> None:
    assert SearchSpace(quant=("float", "int8_qat")).quant == (QuantMode.FLOAT, QuantMode.INT8_QAT)
    with pytest.raises(SearchSpaceError, match="quant"):
        SearchSpace(quant=("int4",))
