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
    assert set(space.quant) == set(QuantMode) and "mse" in space.calibrator


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
