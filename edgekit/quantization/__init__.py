"""int8 quantization to the TFLite spec on torchao's PT2E API: PTQ, QAT, sensitivity.

>>> from edgekit.quantization import QuantConfig
>>> QuantConfig().per_channel_weights
True
"""

from edgekit.quantization.api import QuantizeResult, capture, finalize, prepare_qat, quantize
from edgekit.quantization.config import Calibrator, Equalization, QuantConfig, QuantScheme
from edgekit.quantization.qat import freeze_bn_stats, freeze_observers, qat_step
from edgekit.quantization.sensitivity import LayerSensitivity, sensitivity
from edgekit.quantization.state import quant_state

__all__ = [
    "Calibrator",
    "Equalization",
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
