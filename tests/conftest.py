"""Shared fixtures: deterministic seeds, single-threaded torch (CI has 2 cores shared by 2 workers)."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("OMP_NUM_THREADS", "1")

try:  # torch._dynamo (triton) must be imported before tensorflow: see converters/tflite/tf_import.py
    import torch._dynamo  # noqa: F401
except ImportError:
    pass


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
