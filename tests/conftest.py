"""Shared fixtures: deterministic seeds, single-threaded torch (CI has 2 cores shared by 2 workers)."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("OMP_NUM_THREADS", "1")

with contextlib.suppress(ImportError):  # torch._dynamo (triton) must load before tensorflow: see tf_import.py
    import torch._dynamo  # noqa: F401


@pytest.fixture(autouse=True)
def _deterministic() -> None:
    import random

    import numpy as np

    random.seed(0)
    np.random.seed(0)
    try:
        import torch
    except ImportError:
        return
    torch.manual_seed(0)
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def small_cnn():
    """A DigitsCNN with non-trivial BatchNorm statistics (random weights, eval mode)."""
    import torch

    from edgekit.demo import DigitsCNN

    torch.manual_seed(0)
    model = DigitsCNN(widths=(8, 16, 16)).train()
    with torch.no_grad():
        for _ in range(3):
            model(torch.rand(16, 1, 8, 8))
    return model.eval()


@pytest.fixture(scope="session")
def onnx_file(tmp_path_factory: pytest.TempPathFactory, small_cnn) -> Path:
    """``small_cnn`` written by ``ek.export`` as ONNX (with edgekit metadata)."""
    import torch

    import edgekit as ek

    return ek.export(small_cnn, torch.rand(1, 1, 8, 8), tmp_path_factory.mktemp("ek") / "cnn.onnx").path


@pytest.fixture(scope="session")
def tflite_file(tmp_path_factory: pytest.TempPathFactory, small_cnn) -> Path:
    """``small_cnn`` written by ``ek.export`` as fp32 TFLite (NHWC inside, NCHW metadata)."""
    import torch

    import edgekit as ek

    return ek.export(small_cnn, torch.rand(1, 1, 8, 8), tmp_path_factory.mktemp("ek") / "cnn.tflite").path
