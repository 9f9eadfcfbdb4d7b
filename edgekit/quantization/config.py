"""``QuantConfig``: one dataclass describes a quantization workflow; defaults follow the TFLite int8 spec."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from edgekit.config import VerbConfig, coerce_enum
from edgekit.errors import QuantizationError


class Calibrator(str, Enum):
    """How activation ranges are estimated from the calibration data (a ``str``: compares equal to its value)."""

    MINMAX = "minmax"
    MEAN_MINMAX = "mean_minmax"
    MOVING_AVERAGE = "moving_average"
    PERCENTILE = "percentile"
    MSE = "mse"


CALIBRATORS: tuple[str, ...] = tuple(c.value for c in Calibrator)


@dataclass(frozen=True)
class QuantConfig(VerbConfig):
    """How to quantize.

    Defaults: ``mse`` activation ranges with bias correction (on pretrained EfficientNet-Lite0 they beat
    min-max, TFLite's own PTQ and ONNX Runtime's ``quantize_static``; ``benchmarks/real_models.py``), and
    the TFLite int8 spec: weights int8 symmetric per-channel (range ±127), activations int8
    asymmetric per-tensor, int32 bias, Conv/Linear fused with BatchNorm and ReLU/ReLU6/hardswish.

    * ``calibrator``: activation range estimation — ``"minmax"``, ``"mean_minmax"`` (per-sample min / max
      averaged over the calibration samples, as TFLite's calibrator does), ``"moving_average"`` (EMA of min/max),
      ``"percentile"`` (clips the ``percentile`` tails), ``"mse"`` (histogram search minimising the L2
      quantization error).
    * ``bias_correction``: after calibration, correct each conv / linear bias by the mean output shift its
      int8 weights cause (measured on the calibration data; :mod:`edgekit.quantization.bias_correction`).
    * ``per_channel_weights``: False gives one weight scale per tensor.
    * ``keep_float``: module names (as in ``model.named_modules()``) left in float.
    * ``freeze_bn_after`` / ``freeze_observers_after``: QAT steps after which BatchNorm statistics / observer
      ranges stop updating (apply with :func:`edgekit.quantization.qat_step`).

    >>> QuantConfig(calibrator="percentile", percentile=99.9).calibrator
    <Calibrator.PERCENTILE: 'percentile'>
    >>> QuantConfig.from_dict(QuantConfig(keep_float=("fc",)).to_dict()).keep_float
    ('fc',)
    """

    calibrator: Calibrator | str = Calibrator.MSE
    percentile: float = 99.99
    bias_correction: bool = True
    per_channel_weights: bool = True
    keep_float: tuple[str, ...] = ()
    freeze_bn_after: int | None = None
    freeze_observers_after: int | None = None

    def __post_init__(self) -> None:
        if self.calibrator not in CALIBRATORS:
            raise QuantizationError(
                f"unknown calibrator {self.calibrator!r}; choose one of {', '.join(CALIBRATORS)}"
            )
        coerce_enum(self, "calibrator", Calibrator, QuantizationError)
        if not 50.0 < self.percentile <= 100.0:
            raise QuantizationError(f"percentile must be in (50, 100], got {self.percentile}")
        if isinstance(self.keep_float, str):
            object.__setattr__(self, "keep_float", (self.keep_float,))
        object.__setattr__(self, "keep_float", tuple(self.keep_float))
        for name in ("freeze_bn_after", "freeze_observers_after"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise QuantizationError(f"{name} must be >= 0 or None, got {value}")
