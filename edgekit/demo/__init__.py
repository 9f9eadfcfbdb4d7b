"""Built-in demo: scikit-learn's bundled digits (real, offline) and small reference architectures.

Used by the README's main job, the tests and the benchmarks. Nothing here downloads anything. The
training loop, ``accuracy`` and the data container moved to :mod:`edgekit.training`; importing them
from here still works for one release, with a DeprecationWarning.
"""

from __future__ import annotations

from typing import Any

from edgekit.demo.digits import DigitsData, load_digits_split
from edgekit.demo.models import DigitsCNN, DigitsResNet

_MOVED = ("accuracy", "batches", "predict", "train")

__all__ = ["DigitsCNN", "DigitsData", "DigitsResNet", "load_digits_split"]


def __getattr__(name: str) -> Any:
    if name not in _MOVED:
        raise AttributeError(f"module 'edgekit.demo' has no attribute {name!r}")
    from edgekit import training
    from edgekit.deprecation import warn_old_style

    warn_old_style(f"edgekit.demo.{name}", f"edgekit.training.{name}")
    return getattr(training, name)
