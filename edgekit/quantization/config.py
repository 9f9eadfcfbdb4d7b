"""``QuantConfig``: one dataclass describes a quantization workflow; defaults follow the TFLite int8 spec."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from edgekit.config import VerbConfig, coerce_enum
from edgekit.errors import QuantizationError
from edgekit.quantization.auto_keep import AutoKeep


class Calibrator(str, Enum):
    """How activation ranges are estimated from the calibration data (a ``str``: compares equal to its value)."""

    MINMAX = "minmax"
    MEAN_MINMAX = "mean_minmax"
    MOVING_AVERAGE = "moving_average"
    PERCENTILE = "percentile"
    MSE = "mse"


CALIBRATORS: tuple[str, ...] = tuple(c.value for c in Calibrator)


class Equalization(str, Enum):
    """Cross-layer equalization of consecutive convolutions before calibration
    (:mod:`edgekit.quantization.equalize`).

    * ``OFF``: none (default);
    * ``RELU``: pairs joined directly or through a ReLU; the float model is unchanged;
    * ``RELU6_AS_RELU``: also pairs joined through a ReLU6, which becomes a ReLU (as AIMET does): the float
      model changes wherever such an activation exceeded 6.
    """

    OFF = "off"
    RELU = "relu"
    RELU6_AS_RELU = "relu6_as_relu"


class QuantScheme(str, Enum):
    """Which tensors become which integer / float types in the TFLite file.

    * ``INT8``: full integer, int8 activations (asymmetric) and weights (symmetric per channel), int32 bias;
    * ``INT16X8``: int16 activations (symmetric, zero point 0), int8 weights, int64 bias (TFLite's "16x8");
    * ``FLOAT16``: float16 weights dequantized to float32 at load, float32 compute (no calibration);
    * ``DYNAMIC_INT8``: int8 weights, float activations quantized on the fly by TFLite's hybrid kernels
      (dynamic range; no calibration).
    """

    INT8 = "int8"
    INT16X8 = "int16x8"
    FLOAT16 = "float16"
    DYNAMIC_INT8 = "dynamic_int8"

    @property
    def calibrated(self) -> bool:
        """True for the schemes whose activation ranges come from calibration (INT8, INT16X8)."""
        return self in (QuantScheme.INT8, QuantScheme.INT16X8)


class LayerNormMode(str, Enum):
    """How LayerNorm runs in an int8 / 16x8 file (TFLite has no LayerNorm kernel; it is lowered to MEAN,
    SUB, MUL, RSQRT, ADD).

    * ``FLOAT``: the normalisation runs in float between DEQUANTIZE and QUANTIZE (named in the notes);
    * ``INT8``: each op of the lowering gets its own calibrated range and runs on LiteRT's integer kernels.
    """

    FLOAT = "float"
    INT8 = "int8"


@dataclass(frozen=True)
class QuantConfig(VerbConfig):
    """How to quantize.

    Defaults: ``mse`` activation ranges with bias correction (on pretrained EfficientNet-Lite0 they beat
    min-max, TFLite's own PTQ and ONNX Runtime's ``quantize_static``; ``benchmarks/real_models.py``), and
    the TFLite int8 spec: weights int8 symmetric per-channel (range ±127), activations int8
    asymmetric per-tensor, int32 bias, Conv/Linear fused with BatchNorm and ReLU/ReLU6/hardswish.

    * ``scheme``: :class:`QuantScheme` — ``"int8"`` (default), ``"int16x8"``, ``"float16"``,
      ``"dynamic_int8"``; the last two need no calibration data and ignore the calibration settings.
    * ``calibrator``: activation range estimation — ``"minmax"``, ``"mean_minmax"`` (per-sample min / max
      averaged over the calibration samples, as TFLite's calibrator does), ``"moving_average"`` (EMA of min/max),
      ``"percentile"`` (clips the ``percentile`` tails), ``"mse"`` (histogram search minimising the L2
      quantization error).
    * ``bias_correction``: after calibration, correct each conv / linear bias by the mean output shift its
      int8 weights cause (measured on the calibration data; :mod:`edgekit.quantization.bias_correction`).
    * ``equalization``: :class:`Equalization` — cross-layer equalization of conv pairs before calibration
      (``"off"``, ``"relu"``, ``"relu6_as_relu"``); off by default: it did not win on EfficientNet-Lite0.
    * ``adaround`` / ``adaround_iterations``: learn each weight's rounding (up or down) layer by layer on the
      calibration inputs (:mod:`edgekit.quantization.adaround`); off by default: +3.7 points of top-1
      agreement on EfficientNet-Lite0, +0.2 on MTCNN ONet (100 iterations), 5-13x the quantize time.
    * ``per_channel_weights``: False gives one weight scale per tensor.
    * ``layer_norm``: :class:`LayerNormMode` — ``"float"`` (default) or ``"int8"`` (the decomposition
      quantized op by op).
    * ``keep_float``: module names (as in ``model.named_modules()``) left in float.
    * ``int16_layers``: module names whose activations are int16 (TFLite 16x8 kernels) in an int8 model;
      the writer puts int8 <-> int16 QUANTIZE ops at their boundaries.
    * ``auto_keep``: :class:`~edgekit.quantization.auto_keep.AutoKeep` — rank the layers with
      ``ek.sensitivity`` and keep the most sensitive ones in int16 or float until a parity target is met
      (``result.auto_keep`` reports the layers, the parity per step and the cost).
    * ``freeze_bn_after`` / ``freeze_observers_after``: QAT steps after which BatchNorm statistics / observer
      ranges stop updating (apply with :func:`edgekit.quantization.qat_step`).

    >>> QuantConfig(calibrator="percentile", percentile=99.9).calibrator
    <Calibrator.PERCENTILE: 'percentile'>
    >>> QuantConfig(equalization="relu", adaround=True).equalization
    <Equalization.RELU: 'relu'>
    >>> QuantConfig(scheme="int16x8").scheme
    <QuantScheme.INT16X8: 'int16x8'>
    >>> QuantConfig.from_dict(QuantConfig(keep_float=("fc",)).to_dict()).keep_float
    ('fc',)
    >>> QuantConfig(auto_keep={"target_cosine": 0.995}).auto_keep.keep_as
    <KeepAs.INT16: 'int16'>
    """

    scheme: QuantScheme | str = QuantScheme.INT8
    calibrator: Calibrator | str = Calibrator.MSE
    percentile: float = 99.99
    bias_correction: bool = True
    equalization: Equalization | str = Equalization.OFF
    adaround: bool = False
    adaround_iterations: int = 300
    per_channel_weights: bool = True
    keep_float: tuple[str, ...] = ()
    layer_norm: LayerNormMode | str = LayerNormMode.FLOAT
    int16_layers: tuple[str, ...] = ()
    auto_keep: AutoKeep | None = None
    freeze_bn_after: int | None = None
    freeze_observers_after: int | None = None

    def __post_init__(self) -> None:
        if self.calibrator not in CALIBRATORS:
            raise QuantizationError(
                f"unknown calibrator {self.calibrator!r}; choose one of {', '.join(CALIBRATORS)}"
            )
        coerce_enum(self, "calibrator", Calibrator, QuantizationError)
        coerce_enum(self, "scheme", QuantScheme, QuantizationError)
        coerce_enum(self, "layer_norm", LayerNormMode, QuantizationError)
        coerce_enum(self, "equalization", Equalization, QuantizationError)
        if self.adaround_iterations < 1:
            raise QuantizationError(f"adaround_iterations must be >= 1, got {self.adaround_iterations}")
        if not 50.0 < self.percentile <= 100.0:
            raise QuantizationError(f"percentile must be in (50, 100], got {self.percentile}")
        for name in ("keep_float", "int16_layers"):
            value = getattr(self, name)
            object.__setattr__(self, name, (value,) if isinstance(value, str) else tuple(value))
        if self.keep_float and not QuantScheme(self.scheme).calibrated:
            raise QuantizationError(
                f"keep_float is not supported with scheme {QuantScheme(self.scheme).value!r} (every weight of "
                "the file gets that type); drop keep_float or use scheme 'int8' / 'int16x8'"
            )
        scheme = QuantScheme(self.scheme)
        if (self.int16_layers or self.auto_keep is not None) and scheme is not QuantScheme.INT8:
            field = "int16_layers" if self.int16_layers else "auto_keep"
            raise QuantizationError(
                f"{field} mixes int16 / float layers into an int8 model; scheme {scheme.value!r} has no int8 "
                f"layers to mix with: use scheme 'int8', or drop {field}"
            )
        if isinstance(self.auto_keep, dict):
            object.__setattr__(self, "auto_keep", AutoKeep.from_dict(self.auto_keep))
        for name in ("freeze_bn_after", "freeze_observers_after"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise QuantizationError(f"{name} must be >= 0 or None, got {value}")
