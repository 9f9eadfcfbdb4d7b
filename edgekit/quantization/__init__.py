"""int8 quantization to the TFLite spec on torchao's PT2E API: PTQ, QAT, sensitivity.

>>> from edgekit.quantization import QuantConfig
>>> QuantConfig().per_channel_weights
True
"""

from edgekit.quantization.api import QuantizeResult, capture, finalize, prepare_qat, quantize
from edgekit.quantization.auto_keep import AutoKeep, AutoKeepReport, KeepAs, KeepStep
from edgekit.quantization.config import Calibrator, Equalization, LayerNormMode, QuantConfig, QuantScheme
from edgekit.quantization.qat import freeze_bn_stats, freeze_observers, qat_step
from edgekit.quantization.sensitivity import LayerSensitivity, sensitivity
from edgekit.quantization.state import quant_state

__all__ = [
    "AutoKeep",
    "AutoKeepReport",
    "Calibrator",
    "Equalization",
    "KeepAs",
    "KeepStep",
    "LayerNormMode",
    "LayerSensitivity",
    "QuantConfig",
    "QuantScheme",
    "QuantizeResult",
    "capture",
    "finalize",
    "freeze_bn_stats",
    "freeze_observers",
    "prepare_qat",
    "qat_step",
    "quant_state",
    "quantize",
    "sensitivity",
]
