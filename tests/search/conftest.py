"""Fixtures of the search tests: one small trained digits CNN (its weights also saved for worker processes)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).parent
_spec = importlib.util.spec_from_file_location("search_helpers", HERE / "_helpers.py")
helpers = importlib.util.module_from_spec(_spec)  # type: ignore[arg-type]
_spec.loader.exec_module(helpers)  # type: ignore[union-attr]


@pytest.fixture(scope="session")
def digits() -> Any:
    from edgekit.demo import load_digits_split

    return load_digits_split()


@pytest.fixture(scope="session")
def base(digits: Any, tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path]:
    """(trained model, its saved state_dict) — 2 epochs on digits, ~85-90% accuracy."""
    import torch

    from edgekit.demo import train

    model = helpers.model_from()
    train(model, digits.x_train, digits.y_train, epochs=2, seed=0)
    path = tmp_path_factory.mktemp("base") / "base.pt"
    torch.save(model.state_dict(), path)
    return model.eval(), path


@pytest.fixture(scope="session")
def helper() -> Any:
    return helpers
