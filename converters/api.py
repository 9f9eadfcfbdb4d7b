"""``export`` and ``convert``: one verb each; the output suffix chooses the format.

This module routes (suffix -> writer) and describes what was written (:class:`ExportResult`); whether
the file is right is decided in :mod:`edgekit.converters.verify`.

>>> import edgekit as ek                                                  # doctest: +SKIP
>>> ek.export(model, torch.randn(1, 3, 224, 224), "mobilenet_v2.tflite")  # doctest: +SKIP
ExportResult(path=PosixPath('mobilenet_v2.tflite'), format='tflite', ...)
"""

from __future__ import annotations

import logging
import os
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from edgekit.config import VerbConfig, coerce_enum
from edgekit.converters.parity import ParityReport
from edgekit.converters.tflite.nms import DETECTION_OUTPUTS, NMSConfig, append_nms
from edgekit.converters.verify import (
    FLOAT_COSINE,
    FLOAT_REL_MAX_ABS,
    FLOOR_FACTOR,
    INT8_COSINE,
    TIE_NOISE,
    check_parity,
    noise_floor,
    qdq_reference,
    verify_conversion,
    verify_export,
)
from edgekit.deprecation import warn_old_style
from edgekit.errors import ConversionError, ExportError
from edgekit.fileio import atomic_path, prepare_output
from edgekit.input_shapes import parse_input_shapes
from edgekit.progress import stage
from edgekit.results import VerbResult, unwrap_model

log = logging.getLogger(__name__)

__all__ = [
    "FLOAT_COSINE",
    "FLOAT_REL_MAX_ABS",
    "FLOOR_FACTOR",
    "FORMATS",
    "INT8_COSINE",
    "TIE_NOISE",
    "ConvertConfig",
    "ExportConfig",
    "ExportResult",
    "NMSConfig",
    "convert",
    "export",
    "noise_floor",
    "qdq_reference",
]

FORMATS = {".onnx": "onnx", ".tflite": "tflite"}
INT16_OPSET = 21  # the first opset whose QuantizeLinear / DequantizeLinear take int16

_check_parity = check_parity  # the name before the parity rules moved to converters/verify.py


class Writer(str, Enum):
    """Who writes the .tflite: ``DIRECT`` (edgekit's own flatbuffer writer, no TensorFlow) or ``TF``
    (TensorFlow's converter, the ``tf`` extra; kept as a cross-check)."""

    DIRECT = "direct"
    TF = "tf"


@dataclass(frozen=True)
class ExportConfig(VerbConfig):
    """Settings of :func:`export`: the ONNX ``opset``, whether the written file is ``verify``-ed
    against PyTorch on the example inputs (a mismatch raises ParityError and nothing is written), the
    TFLite ``writer``, and ``nms``: non-maximum suppression appended to a detector's ``.tflite`` so that
    it returns boxes, scores, classes and a count (the head outputs are verified before NMS is added).

    >>> ExportConfig(nms=NMSConfig(iou_threshold=0.5)).nms.iou_threshold
    0.5
    """

    opset: int = 18
    verify: bool = True
    writer: Writer = Writer.DIRECT
    nms: NMSConfig | None = None

    def __post_init__(self) -> None:
        coerce_enum(self, "writer", Writer, ExportError)
        if isinstance(self.nms, dict):
            object.__setattr__(self, "nms", NMSConfig.from_dict(self.nms))
        if self.nms is not None and not isinstance(self.nms, NMSConfig):
            raise ExportError(f"nms must be an NMSConfig or None, got {type(self.nms).__name__}")
        if not isinstance(self.opset, int) or not 13 <= self.opset <= 23:
            raise ExportError(
                f"opset must be an integer in 13..23 (edgekit is tested with 18), got {self.opset!r}"
            )


@dataclass(frozen=True)
class ConvertConfig(VerbConfig):
    """Settings of :func:`convert`: fixed ``input_shapes`` by ONNX input name for dynamic dims, and
    whether the TFLite file is ``verify``-ed against ONNX Runtime, and which ``writer`` writes it.

    >>> ConvertConfig(input_shapes={"x": [1, 3, 8, 8]}).input_shapes
    {'x': (1, 3, 8, 8)}
    """

    input_shapes: dict[str, tuple[int, ...]] | None = None
    verify: bool = True
    writer: Writer = Writer.DIRECT

    def __post_init__(self) -> None:
        coerce_enum(self, "writer", Writer, ConversionError)
        if self.input_shapes is not None:
            if not isinstance(self.input_shapes, dict | str):
                raise ConversionError(
                    f"input_shapes maps ONNX input names to shapes, e.g. {{'input': (1, 3, 224, 224)}}; got "
                    f"{type(self.input_shapes).__name__}"
                )
            object.__setattr__(self, "input_shapes", parse_input_shapes(self.input_shapes))


@dataclass
class ExportResult(VerbResult):
    """What ``export``/``convert`` wrote: the file, its format and size, whether it is int8, its op
    histogram, the parity report (None when not verified) and notes."""

    path: Path
    format: str
    size_bytes: int
    quantized: bool
    ops: dict[str, int]
    parity: ParityReport | None = None
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    scheme: str | None = None

    def summary(self) -> str:
        kind = (self.scheme or "int8") if self.quantized else "float"
        parity = f", parity {self.parity.summary()}" if self.parity else ""
        return f"{self.path} ({self.format}, {kind}, {self.size_bytes / 1024:.1f} KiB){parity}"


def _format(path: Path) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ExportError(
            f"cannot tell the format of {path.name}: use one of the suffixes {', '.join(FORMATS)}"
        )
    return fmt


def _ops_of_file(path: Path) -> dict[str, int]:
    from edgekit.runtime import Model

    return Model.load(path).op_histogram()


def _old_settings(
    verb: str, old: dict[str, Any], allowed: tuple[str, ...], config_name: str
) -> dict[str, Any]:
    unknown = sorted(set(old) - set(allowed))
    if unknown:
        raise TypeError(f"{verb}() got unexpected keyword argument(s) {', '.join(unknown)}")
    given = {k: v for k, v in old.items() if v is not None}
    if given:
        warn_old_style(
            f"ek.{verb}(..., {', '.join(f'{k}=...' for k in given)})",
            f"ek.{verb}(..., config=ek.{config_name}(...))",
            stacklevel=4,
        )
    return given


def export(
    model: Any,
    example_inputs: Any,
    path: str | os.PathLike[str],
    config: ExportConfig | None = None,
    **old_keywords: Any,
) -> ExportResult:
    """Export a PyTorch model (or a verb's result, e.g. ``ek.quantize``'s); the suffix of ``path`` picks
    the format.

    * ``.onnx``: dynamo exporter, opset 18, one self-contained file; QDQ with int8 weights when the model
      was quantized with ``ek.quantize`` / ``ek.finalize``.
    * ``.tflite``: through ONNX and edgekit's translator; NHWC inside, NCHW for the user through the
      file's metadata; full-integer int8 with int8 I/O for a quantized model.

    With ``config.verify`` (default) the file is run on ``example_inputs`` and compared with PyTorch; a
    mismatch raises :class:`~edgekit.errors.ParityError` saying by how much, and nothing is written.

    To get an int8 file, quantize first (``ek.quantize(..., calibrate=batches)``: PT2E calibration, the
    same scales in ONNX and TFLite). Deprecated (one release): ``opset=`` / ``verify=`` keywords, and
    ``calibrate=`` for a ``.tflite`` (TFLite's own calibrator); ``calibrate=`` for ``.onnx`` did nothing
    and now raises :class:`~edgekit.errors.ExportError`.
    """
    from edgekit.converters.onnx_export import add_onnx_metadata, export_onnx, save_onnx

    start = time.perf_counter()
    out = prepare_output(path)
    fmt = _format(out)
    calibrate: Iterable[Any] | None = old_keywords.pop("calibrate", None)
    if calibrate is not None and fmt == "onnx":
        raise ExportError(
            f"calibrate= does nothing when exporting {out.name}: an ONNX file is float unless the model is "
            "quantized. Quantize first: ek.export(ek.quantize(model, x, calibrate=batches), x, path)"
        )
    old = _old_settings("export", old_keywords, ("opset", "verify"), "ExportConfig")
    if old and config is not None:
        raise ExportError("give the settings either in config=ExportConfig(...) or as keywords, not both")
    config = ExportConfig(**old) if old else (config if config is not None else ExportConfig())
    if calibrate is not None:
        warn_old_style(
            "ek.export(model, x, 'm.tflite', calibrate=...) (TFLite's calibrator)",
            "ek.quantize(model, x, calibrate=...) then ek.export, or ek.convert(onnx, tflite, "
            "tflite_calibration=...)",
        )
    model = unwrap_model(model)
    from edgekit.detection import check_static_detector

    check_static_detector(model)
    if config.nms is not None and fmt != "tflite":
        raise ExportError(
            f"NMS in the graph is written into .tflite files only; export {out.with_suffix('.tflite').name} "
            "or leave ExportConfig.nms unset"
        )
    from edgekit.quantization.state import has_int16, quant_scheme, weight_scheme  # the torch side only

    weights = weight_scheme(model)
    opset = config.opset
    notes: list[str] = []
    if fmt == "onnx" and has_int16(model) and opset < INT16_OPSET:
        opset = INT16_OPSET
        notes.append(
            f"int16 QuantizeLinear needs ONNX opset {INT16_OPSET}: wrote opset {opset} instead of {config.opset}"
        )
    exported = export_onnx(model, example_inputs, opset=opset)
    add_onnx_metadata(exported.model, exported)
    inputs = [x.detach().cpu().numpy() for x in exported.example_inputs]
    floor = (lambda: noise_floor(model, inputs[0])) if exported.quantized and len(inputs) == 1 else None
    if weights is not None and fmt == "onnx":
        notes.append(f"{weights} weights are a TFLite scheme: the ONNX file keeps float32 weights")
    report = None
    with atomic_path(out) as tmp:
        what = "the ONNX file" if fmt == "onnx" else "the TFLite file"
        if fmt == "onnx":
            stage("write")
            save_onnx(exported.model, tmp, data_name=f"{out.name}.data")
            ops = dict(Counter(n.op_type for n in exported.model.graph.node))
        else:
            from edgekit.converters.tflite.convert import onnx_to_tflite

            stage("translate + calibrate" if calibrate is not None else "translate")
            conversion = onnx_to_tflite(
                exported.model,
                calibrate=calibrate,
                writer=config.writer.value,
                weights=weights,
            )
            stage("write")
            conversion.write_to(tmp)
            notes.extend(conversion.notes)
        if config.verify:
            stage("verify")
            lossy = exported.quantized or (weights is not None and fmt == "tflite")
            report, found = verify_export(tmp, exported.torch_outputs, inputs, lossy, what, floor)
            notes.extend(found)
        if config.nms is not None:
            stage("append NMS")
            tmp.write_bytes(append_nms(tmp.read_bytes(), config.nms))
            notes.append(
                f"NMS in the graph: outputs {', '.join(DETECTION_OUTPUTS)} (parity was checked on the head outputs)"
            )
        if fmt == "tflite":
            ops = _ops_of_file(tmp)
    quantized = exported.quantized or (fmt == "tflite" and (calibrate is not None or weights is not None))
    result = ExportResult(
        out,
        fmt,
        out.stat().st_size,
        quantized,
        ops,
        report,
        time.perf_counter() - start,
        notes,
        quant_scheme(model) if quantized and calibrate is None else None,
    )
    log.info("wrote %s (%s, %.1f KiB) in %.1f s", out, fmt, result.size_bytes / 1024, result.seconds)
    return result


def convert(
    src: str | os.PathLike[str] | Any,
    dst: str | os.PathLike[str],
    config: ConvertConfig | None = None,
    *,
    tflite_calibration: Iterable[Any] | None = None,
    **old_keywords: Any,
) -> ExportResult:
    """Convert an ONNX file (or ``ek.export``'s result for one) to TFLite.

    A QDQ model becomes full-integer int8 with its scales kept exactly; a float model stays float unless
    ``tflite_calibration`` (an iterable of NCHW input batches) is given, then int8 via TFLite's own
    calibrator. That is a different calibration from ``ek.quantize(calibrate=)`` (PT2E observers in
    PyTorch), hence the different name; it is data, so it is an argument and not a config field.
    With ``config.verify`` the TFLite file is compared with ONNX Runtime on random inputs (fp32 files
    must meet the float parity bar; int8 files are reported, not judged: calibration changes numbers).
    ``config.writer``: ``"direct"`` (edgekit writes the flatbuffer, no TensorFlow) or ``"tf"``
    (TensorFlow's converter; needs the ``tf`` extra); ``tflite_calibration`` always uses TensorFlow.

    Deprecated (one release): ``calibrate=`` (now ``tflite_calibration=``), ``input_shapes=`` and
    ``verify=`` keywords.

    The file may come from any common exporter (TorchScript ``dynamo=False``, dynamo, other frameworks)
    and keep its weights in side files; its graph is normalised first (constants and shape arithmetic
    folded, see :mod:`edgekit.converters.onnx_normalize`). ``input_shapes`` (``{name: shape}`` or
    ``"name:1x3x224x224,..."``) fixes symbolic input dims; without it a symbolic dim other than the
    batch raises :class:`~edgekit.errors.InputShapeError` listing them.
    """
    start = time.perf_counter()
    old_calibration = old_keywords.pop("calibrate", None)
    if old_calibration is not None:
        if tflite_calibration is not None:
            raise ConversionError("give tflite_calibration= only (calibrate= is its deprecated name)")
        warn_old_style("ek.convert(src, dst, calibrate=...)", "ek.convert(src, dst, tflite_calibration=...)")
        tflite_calibration = old_calibration
    old = _old_settings("convert", old_keywords, ("input_shapes", "verify"), "ConvertConfig")
    if old and config is not None:
        raise ConversionError(
            "give the settings either in config=ConvertConfig(...) or as keywords, not both"
        )
    config = ConvertConfig(**old) if old else (config if config is not None else ConvertConfig())
    source = Path(getattr(src, "path", src))
    out = prepare_output(dst)
    if _format(source) != "onnx":
        raise ConversionError(f"convert() reads .onnx files; {source.name} is not one")
    if _format(out) != "tflite":
        raise ConversionError(f"convert() writes .tflite files; got {out.name}")
    from edgekit.runtime import model_file, tflite_flatbuffer

    model_file.validate(source)
    from edgekit.converters.onnx_normalize import load_onnx, normalize
    from edgekit.converters.tflite.convert import onnx_to_tflite

    stage("load + normalise")
    proto = normalize(load_onnx(source, map_external=True), config.input_shapes)
    stage("translate + calibrate" if tflite_calibration is not None else "translate")
    conversion = onnx_to_tflite(
        proto, calibrate=tflite_calibration, input_shapes=config.input_shapes, writer=config.writer.value
    )
    with atomic_path(out) as tmp:
        stage("write")
        conversion.write_to(tmp)
        report = None
        if config.verify:
            stage("verify")
            report = verify_conversion(source, tmp, proto, conversion)
            if conversion.quantized and tflite_calibration is None and report.cosine_min < INT8_COSINE:
                note = (
                    f"int8: the file matches its QDQ source in ONNX Runtime only to cosine {report.cosine_min:.4f} "
                    f"(< {INT8_COSINE}) on the check inputs; `edgekit compare --per-layer` shows where it diverges"
                )
                log.warning("%s", note)
                conversion.notes.append(note)
            from edgekit.runtime import Model

            coverage = Model.load(tmp).delegate_coverage()
            conversion.notes.append(
                f"{coverage['delegate']}: {coverage['delegated_nodes']}/{coverage['total_nodes']} nodes delegated"
            )
        ops = tflite_flatbuffer.op_histogram(conversion.flatbuffer)
    return ExportResult(
        out,
        "tflite",
        out.stat().st_size,
        conversion.quantized,
        ops,
        report,
        time.perf_counter() - start,
        conversion.notes,
    )
