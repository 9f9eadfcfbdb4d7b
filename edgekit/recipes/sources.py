"""Turn a recipe's model and data sources into a torch model and train/test arrays."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.errors import RecipeError
from edgekit.recipes.schema import DataSource, ModelSource
from edgekit.training import SplitData


def _entry(spec: str, what: str) -> Any:
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise RecipeError(f"{what} entry point {spec!r} must look like package.module:function")
    try:
        return getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise RecipeError(f"{what} entry point {spec!r} does not import: {exc}") from exc


def load_data(source: DataSource, seed: int = 0) -> SplitData:
    """Train/test arrays (NCHW float32, int64 labels)."""
    if source.digits:
        from edgekit.demo import load_digits_split

        return load_digits_split(
            size=source.size, channels=source.channels, test_fraction=source.test_fraction, seed=seed
        )
    if source.npz is not None:
        if not source.npz.is_file():
            raise RecipeError(f"data file not found: {source.npz}")
        with np.load(source.npz, allow_pickle=False) as arrays:
            missing = {"x_train", "y_train", "x_test", "y_test"} - set(arrays.files)
            if missing:
                raise RecipeError(f"{source.npz} lacks the arrays {sorted(missing)}")
            return SplitData(*(arrays[k] for k in ("x_train", "y_train", "x_test", "y_test")))
    if source.images is not None:
        return _image_folder(source.images, source, seed)
    result = _entry(str(source.entry), "data")()
    return SplitData(*(np.asarray(a) for a in result))


def _image_folder(folder: Path, source: DataSource, seed: int) -> SplitData:
    from PIL import Image
    from sklearn.model_selection import train_test_split

    if not folder.is_dir():
        raise RecipeError(f"image folder not found: {folder}")
    classes = sorted(p.name for p in folder.iterdir() if p.is_dir())
    if not classes:
        raise RecipeError(f"{folder} has no class sub-folders (expected one folder of images per class)")
    images, labels = [], []
    for label, name in enumerate(classes):
        for file in sorted((folder / name).iterdir()):
            with Image.open(file) as opened:
                img = opened.convert("RGB" if source.channels == 3 else "L").resize(
                    (source.size, source.size)
                )
                arr = np.asarray(img, dtype=np.float32) / 255.0
            images.append(arr.transpose(2, 0, 1) if arr.ndim == 3 else arr[None])
            labels.append(label)
    x, y = np.stack(images), np.asarray(labels, dtype=np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(
        x, y, test_size=source.test_fraction, random_state=seed, stratify=y
    )
    return SplitData(x_tr, y_tr, x_te, y_te)


def load_model(source: ModelSource, in_channels: int) -> Any:
    """The torch model (or, for an ONNX source, the file path)."""
    import torch

    if source.onnx is not None:
        if not source.onnx.is_file():
            raise RecipeError(f"ONNX model not found: {source.onnx}")
        return source.onnx
    if source.demo is not None:
        from edgekit.demo import DigitsCNN, DigitsResNet

        model = (DigitsCNN if source.demo == "cnn" else DigitsResNet)(
            in_channels=in_channels, num_classes=source.num_classes
        )
    elif source.torchvision is not None:
        import torchvision

        if source.torchvision not in torchvision.models.list_models():
            raise RecipeError(f"unknown torchvision model {source.torchvision!r}")
        try:
            model = torchvision.models.get_model(
                source.torchvision, weights=None, num_classes=source.num_classes, **source.options
            )
        except TypeError as exc:
            raise RecipeError(
                f"model.options {source.options} do not fit {source.torchvision}: {exc}"
            ) from exc
    else:
        model = _entry(str(source.entry), "model")(**source.options)
    if source.state_dict is not None:
        if not source.state_dict.is_file():
            raise RecipeError(f"state dict not found: {source.state_dict}")
        state = torch.load(source.state_dict, weights_only=True, map_location="cpu")
        try:
            result = model.load_state_dict(state, strict=False)
        except RuntimeError as exc:  # shape mismatches
            raise RecipeError(f"{source.state_dict} does not match the architecture: {exc}") from exc
        if result.missing_keys or result.unexpected_keys:
            raise RecipeError(
                f"{source.state_dict} does not match the architecture: missing keys {result.missing_keys[:8]}, "
                f"unexpected keys {result.unexpected_keys[:8]}"
            )
    return model
