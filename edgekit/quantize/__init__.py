"""int8 quantization to the TFLite spec on torchao's PT2E API: PTQ, QAT, sensitivity.

>>> from edgekit.quantize import QuantConfig
>>> QuantConfig().per_channel_weights
True
"""

from edgekit.quantize.api import capture, finalize, prepare_qat, quantize
from edgekit.quantize.config import QuantConfig
from edgekit.quantize.qat import freeze_bn_stats, freeze_observers, qat_step
from edgekit.quantize.sensitivity import LayerSensitivity, sensitivity
from edgekit.quantize.state import quant_state

__all__ = [
    "LayerSensitivity",
    "QuantConfig",
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
