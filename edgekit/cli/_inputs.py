"""Reading model sources and input arrays named on the command line."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.errors import EdgekitError, ModelFileError


def load_arrays(path: Path) -> list[np.ndarray]:
    """Input batches from a .npy file or every array of an .npz file (NCHW)."""
    if not path.exists():
        raise ModelFileError(f"input file not found: {path}")
    if path.suffix == ".npy":
        return [np.load(path, allow_pickle=False)]
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as data:
            return [data[k] for k in data.files]
    raise EdgekitError(f"{path}: give inputs as .npy or .npz arrays")


def torch_model(source: str, num_classes: int | None = None) -> Any:
    """A torchvision model name (random weights, no download) or a ``package.module:function`` entry point."""
    if ":" in source:
        module_name, _, attr = source.partition(":")
        try:
            factory = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as exc:
            raise EdgekitError(f"cannot import the entry point {source!r}: {exc}") from exc
        return factory()
    import torchvision

    names = torchvision.models.list_models()
    if source not in names:
        raise EdgekitError(
            f"unknown model {source!r}: give a torchvision model name or package.module:function"
        )
    kwargs: dict[str, Any] = {"weights": None}
    if num_classes:
        kwargs["num_classes"] = num_classes
    return torchvision.models.get_model(source, **kwargs)
