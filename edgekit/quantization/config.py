"""``QuantConfig``: one dataclass describes a quantization workflow; defaults follow the TFLite int8 spec."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from edgekit.errors import QuantizationError

Calibrator = Literal["minmax", "moving_average", "percentile", "mse"]
CALIBRATORS: tuple[str, ...] = ("minmax", "moving_average", "percentile", "mse")


@dataclass(frozen=True)
class QuantConfig:
    """How to quantize.

    Defaults are the TFLite int8 spec: weights int8 symmetric per-channel (range ±127), activations int8
    asymmetric per-tensor, int32 bias, Conv/Linear fused with BatchNorm and ReLU/ReLU6/hardswish.

    * ``calibrator``: activation range estimation — ``"minmax"``, ``"moving_average"`` (EMA of min/max),
      ``"percentile"`` (clips the ``percentile`` tails), ``"mse"`` (histogram search minimising the L2
      quantization error).
    * ``per_channel_weights``: False gives one weight scale per tensor.
    * ``keep_float``: module names (as in ``model.named_modules()``) left in float.
    * ``freeze_bn_after`` / ``freeze_observers_after``: QAT steps after which BatchNorm statistics / observer
      ranges stop updating (apply with :func:`edgekit.quantization.qat_step`).

    >>> QuantConfig(calibrator="percentile", percentile=99.9).calibrator
    'percentile'
    """

    calibrator: Calibrator = "minmax"
    percentile: float = 99.99
    per_channel_weights: bool = True
    keep_float: tuple[str, ...] = ()
    freeze_bn_after: int | None = None
    freeze_observers_after: int | None = None

    def __post_init__(self) -> None:
        if self.calibrator not in CALIBRATORS:
            raise QuantizationError(
                f"unknown calibrator {self.calibrator!r}; choose one of {', '.join(CALIBRATORS)}"
            )
        if not 50.0 < self.percentile <= 100.0:
            raise QuantizationError(f"percentile must be in (50, 100], got {self.percentile}")
        if isinstance(self.keep_float, str):
            object.__setattr__(self, "keep_float", (self.keep_float,))
        for name in ("freeze_bn_after", "freeze_observers_after"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise QuantizationError(f"{name} must be >= 0 or None, got {value}")
