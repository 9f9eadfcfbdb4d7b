"""The old home of knowledge distillation; everything now lives in :mod:`edgekit.distillation`.

``ek.distill`` is a function, and importing this submodule would otherwise replace it on the
``edgekit`` package (Python sets ``edgekit.distill`` to the submodule). So this module is callable
and forwards to :func:`edgekit.distillation.distill`: ``ek.distill(...)`` works either way.
"""

from __future__ import annotations

import sys
import types
from typing import Any

from edgekit.distillation import (
    DistillationError,
    DistillConfig,
    Distiller,
    DistillResult,
    distill,
    distill_loss,
)

__all__ = ["DistillConfig", "DistillResult", "DistillationError", "Distiller", "distill", "distill_loss"]


class _CallableModule(types.ModuleType):
    def __call__(self, *args: Any, **kwargs: Any) -> DistillResult:
        return distill(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
