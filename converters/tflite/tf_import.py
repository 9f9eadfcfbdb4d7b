"""Import TensorFlow so that it coexists with PyTorch in one process.

Measured with torch 2.14.1 + tensorflow 2.21: once TensorFlow is loaded, a later first import of triton
(pulled in by ``torch._dynamo``, i.e. by ``torch.export`` / ``torch.onnx.export``) segfaults the process.
Importing ``torch._dynamo`` first avoids it, so every TensorFlow import in edgekit goes through here.
"""

from __future__ import annotations

import contextlib
from typing import Any

from edgekit.logs import quiet_third_party


def tensorflow() -> Any:
    """The ``tensorflow`` module, imported after ``torch._dynamo`` when torch is installed."""
    quiet_third_party()  # TensorFlow's C++ logs, unless EDGEKIT_LOG=debug (edgekit/logs.py)
    with contextlib.suppress(ImportError):
        import torch._dynamo  # noqa: F401
    import tensorflow as tf

    return tf
