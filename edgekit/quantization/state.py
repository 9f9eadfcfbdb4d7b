"""Where a model is in the quantization workflow. Shared by ``edgekit.quantization`` and the exporters.

``prepare_qat`` / the PTQ prepare step mark a model ``"prepared"``; ``finalize`` / ``quantize`` mark the
result ``"finalized"``. Any other module is ``"float"``.
"""

from __future__ import annotations

from typing import Any, Literal

QuantState = Literal["float", "prepared", "finalized"]
_ATTR = "_edgekit_quant_state"


def quant_state(model: Any) -> QuantState:
    """The quantization state recorded on ``model`` (unwraps DistributedDataParallel / DataParallel)."""
    from edgekit.results import unwrap_model

    model = unwrap_model(model)
    inner = (
        getattr(model, "module", model)
        if type(model).__name__ in {"DistributedDataParallel", "DataParallel"}
        else model
    )
    return getattr(inner, _ATTR, "float")


def mark(model: Any, state: QuantState) -> None:
    """Record ``state`` on ``model``."""
    object.__setattr__(model, _ATTR, state)
