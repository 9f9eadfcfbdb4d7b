"""Where a model is in the quantization workflow. Shared by ``edgekit.quantization`` and the exporters.

``prepare_qat`` / the PTQ prepare step mark a model ``"prepared"``; ``finalize`` / ``quantize`` mark the
result ``"finalized"``. Any other module is ``"float"``.
"""

from __future__ import annotations

from typing import Any, Literal

QuantState = Literal["float", "prepared", "finalized"]
_ATTR = "_edgekit_quant_state"
_SCHEME = "_edgekit_quant_scheme"
_INT16_LAYERS = "_edgekit_int16_layers"


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


def quant_scheme(model: Any) -> str:
    """The :class:`~edgekit.quantization.config.QuantScheme` value ``ek.quantize`` recorded on ``model``
    (``"int8"`` when none was); exporters read it to choose the TFLite tensor types."""
    from edgekit.results import unwrap_model

    return str(getattr(unwrap_model(model), _SCHEME, "int8"))


def mark_scheme(model: Any, scheme: str) -> None:
    """Record the quantization scheme (a ``QuantScheme`` value) on ``model``."""
    object.__setattr__(model, _SCHEME, scheme)


def mark_int16_layers(model: Any, layers: tuple[str, ...]) -> None:
    """Record the layers a mixed int8 model runs with int16 activations (``QuantConfig.int16_layers``)."""
    object.__setattr__(model, _INT16_LAYERS, tuple(layers))


def has_int16(model: Any) -> bool:
    """True when ``model`` has int16 activations (scheme ``int16x8``, or int16 layers in an int8 model):
    its ONNX QDQ form needs opset 21."""
    from edgekit.results import unwrap_model

    return quant_scheme(model) == "int16x8" or bool(getattr(unwrap_model(model), _INT16_LAYERS, ()))


def weight_scheme(model: Any) -> str | None:
    """``"float16"`` / ``"dynamic_int8"`` when ``model`` came from a weight-only ``ek.quantize`` (the
    writer sets its weight types), else None."""
    scheme = quant_scheme(model)
    return scheme if scheme in ("float16", "dynamic_int8") else None
