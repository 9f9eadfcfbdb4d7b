"""``export`` and ``convert``: one verb each; the output suffix chooses the format.

>>> import edgekit as ek                                                  # doctest: +SKIP
>>> ek.export(model, torch.randn(1, 3, 224, 224), "mobilenet_v2.tflite")  # doctest: +SKIP
ExportResult(path=PosixPath('mobilenet_v2.tflite'), format='tflite', ...)
"""

from __future__ import annotations

import logging
import os
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.converters.parity import ParityReport, compare, runner
from edgekit.errors import ConversionError, ExportError, ModelFileError, ParityError
from edgekit.fileio import atomic_path, prepare_output

log = logging.getLogger(__name__)

FORMATS = {".onnx": "onnx", ".tflite": "tflite"}
#: fp32 parity bars (PyTorch vs file): cosine and max abs relative to the output range
FLOAT_COSINE, FLOAT_REL_MAX_ABS = 0.9999, 1e-3
#: int8 files are compared with the quantized PyTorch model: same decisions, nearly the same logits
INT8_COSINE = 0.99
#: relative noise on every quantized tensor for a quantized model's noise floor (float32 sums of a few
#: hundred terms in another order differ by about this much)
TIE_NOISE = 1e-5
#: a quantized file passes below INT8_COSINE when its distance (1 - cosine) from the PyTorch model is at
#: most this many times the model's own distance under TIE_NOISE (the floor is a minimum of 8 draws)
FLOOR_FACTOR = 2.0


@dataclass
class ExportResult:
    """What ``export``/``convert`` wrote."""

    path: Path
    format: str
    size_bytes: int
    quantized: bool
    ops: dict[str, int]
    parity: ParityReport | None = None
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "format": self.format,
            "size_bytes": self.size_bytes,
            "quantized": self.quantized,
            "ops": self.ops,
            "parity": self.parity.to_dict() if self.parity else None,
            "seconds": self.seconds,
            "notes": self.notes,
        }


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


def _run_with_tie_noise(model: Any, x: np.ndarray, rel: float, rng: np.random.Generator) -> list[np.ndarray]:
    """``model`` on ``x`` with the input of every quantize op scaled by (1 + N(0, rel)): values near a
    rounding tie fall the other way, as they do when another implementation sums in another order."""
    import torch

    from edgekit.placement import device_of

    class Perturbed(torch.fx.Interpreter):
        def call_function(self, target: Any, args: Any, kwargs: Any) -> Any:
            name = str(target)
            if (
                "quantize_per_tensor" in name
                and "dequantize" not in name
                and isinstance(args[0], torch.Tensor)
            ):
                value = args[0]
                noise = torch.from_numpy(rng.normal(0.0, rel, tuple(value.shape)).astype(np.float32))
                args = (value * (1 + noise.to(value.device)), *args[1:])
            return super().call_function(target, args, kwargs)

    with torch.no_grad():
        out = Perturbed(model).run(torch.from_numpy(x).to(device_of(model)))
    items = out if isinstance(out, list | tuple) else [out]
    return [t.detach().cpu().numpy() for t in items]


def noise_floor(model: Any, x: np.ndarray, samples: int = 8) -> float:
    """The lowest cosine between ``model``'s outputs on ``x`` and its outputs when every quantized tensor's
    float value is moved by a relative ``TIE_NOISE`` (float32 sums in another order do that).

    A quantized network is discontinuous: a value landing on the other side of a rounding tie can move the
    logits by many output steps when the network amplifies it. No other implementation (ONNX Runtime,
    TFLite) can follow the float-simulated PyTorch model more closely than that model follows itself
    under such noise. Models that are not exported graphs get the noise on their input instead.
    """
    import torch

    base = runner(model)(x)
    rng = np.random.default_rng(0)
    worst = 1.0
    for _ in range(samples):
        if isinstance(model, torch.fx.GraphModule):
            moved = _run_with_tie_noise(model, x, TIE_NOISE, rng)
        else:
            moved = runner(model)((x * (1 + rng.normal(0.0, TIE_NOISE, x.shape))).astype(x.dtype))
        worst = min(worst, compare(lambda _: base, lambda _, out=moved: out, [x]).cosine_min)
    return worst


def _check_parity(
    report: ParityReport, quantized: bool, what: str, floor: Callable[[], float] | None = None
) -> list[str]:
    """Raise ParityError when the file is off; notes when it passes only within the model's noise floor."""
    if quantized:
        if report.cosine_min >= INT8_COSINE:
            return []
        own = floor() if floor is not None else 1.0
        if 1.0 - report.cosine_min <= FLOOR_FACTOR * (1.0 - own):
            return [
                f"{what} matches the quantized PyTorch model to cosine {report.cosine_min:.4f} (below {INT8_COSINE}), "
                f"within the model's own noise floor: PyTorch itself moves to cosine {own:.4f} when its quantized "
                f"tensors move by {TIE_NOISE:g} (relative), so rounding ties decide more than the file does. This "
                "network amplifies them; longer QAT reduces that (see edgekit compare --per-layer)"
            ]
        raise ParityError(
            f"{what} disagrees with the quantized PyTorch model: cosine {report.cosine_min:.4f} < {INT8_COSINE}, and "
            f"further off than the model's own noise floor allows (cosine {own:.4f} under rounding-tie noise); "
            f"`edgekit compare --per-layer` shows the first layer that diverges ({report.summary()})"
        )
    if not report.within(cosine=FLOAT_COSINE, rel_max_abs=FLOAT_REL_MAX_ABS):
        raise ParityError(
            f"{what} differs from PyTorch: max abs {report.max_abs:.3g} vs allowed "
            f"{FLOAT_REL_MAX_ABS * report.output_range:.3g}, cosine {report.cosine_min:.6f} ({report.summary()})"
        )
    return []


def export(
    model: Any,
    example_inputs: Any,
    path: str | os.PathLike[str],
    *,
    opset: int = 18,
    verify: bool = True,
    calibrate: Iterable[Any] | None = None,
    writer: str = "direct",
) -> ExportResult:
    """Export a PyTorch model; the suffix of ``path`` picks the format.

    * ``.onnx``: dynamo exporter, opset 18, one self-contained file; QDQ with int8 weights when the model
      was quantized with ``ek.quantize`` / ``ek.finalize``.
    * ``.tflite``: through ONNX and edgekit's translator; NHWC inside, NCHW for the user through the
      file's metadata; full-integer int8 with int8 I/O for a quantized model (or with ``calibrate``).

    With ``verify`` (default) the file is run on ``example_inputs`` and compared with PyTorch; a mismatch
    raises :class:`~edgekit.errors.ParityError` saying by how much, and nothing is written.
    """
    from edgekit.converters.onnx_export import add_onnx_metadata, export_onnx, save_onnx

    start = time.perf_counter()
    out = prepare_output(path)
    fmt = _format(out)
    exported = export_onnx(model, example_inputs, opset=opset)
    add_onnx_metadata(exported.model, exported)
    inputs = [x.detach().cpu().numpy() for x in exported.example_inputs]
    floor = (lambda: noise_floor(model, inputs[0])) if exported.quantized and len(inputs) == 1 else None
    notes: list[str] = []
    with atomic_path(out) as tmp:
        if fmt == "onnx":
            save_onnx(exported.model, tmp)
            report = _verify_file(tmp, exported, inputs, verify, "the ONNX file", floor, notes)
            ops = dict(Counter(n.op_type for n in exported.model.graph.node))
        else:
            from edgekit.converters.tflite.convert import onnx_to_tflite

            conversion = onnx_to_tflite(exported.model, calibrate=calibrate, writer=writer)
            tmp.write_bytes(conversion.flatbuffer)
            notes.extend(conversion.notes)
            report = _verify_file(tmp, exported, inputs, verify, "the TFLite file", floor, notes)
            ops = _ops_of_file(tmp)
    quantized = exported.quantized or (fmt == "tflite" and calibrate is not None)
    result = ExportResult(
        out, fmt, out.stat().st_size, quantized, ops, report, time.perf_counter() - start, notes
    )
    log.info("wrote %s (%s, %.1f KiB) in %.1f s", out, fmt, result.size_bytes / 1024, result.seconds)
    return result


def _verify_file(
    path: Path,
    exported: Any,
    inputs: list[np.ndarray],
    verify: bool,
    what: str,
    floor: Callable[[], float] | None,
    notes: list[str],
) -> ParityReport | None:
    if not verify:
        return None
    if len(inputs) != 1:
        log.info("parity check skipped: multi-input models are verified by the caller")
        return None
    from edgekit.runtime import Model

    model = qdq_reference(path) if exported.quantized and path.suffix == ".onnx" else Model.load(path)
    report = compare(lambda x: exported.torch_outputs, model, [inputs[0]])
    for note in _check_parity(report, exported.quantized, what, floor):
        log.warning("%s", note)
        notes.append(note)
    return report


def qdq_reference(path: Path) -> Any:
    """Run a QDQ file with ONNX semantics (basic graph optimizations: no fused int8 kernels).

    Measured on an AVX2 CPU without VNNI: ONNX Runtime's fused QLinearConv/QGemm kernels (extended
    optimizations) moved a digits CNN's logits by up to ~30 output steps (int16 saturation of
    multiply-add pairs), while basic optimizations reproduce the TFLite file bit for bit. The file is
    judged by its semantics; ``edgekit.runtime`` still runs ORT's defaults and reports what it measures.
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda x: session.run(None, {name: x})


def convert(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    *,
    calibrate: Iterable[Any] | None = None,
    input_shapes: dict[str, tuple[int, ...]] | None = None,
    verify: bool = True,
    writer: str = "direct",
) -> ExportResult:
    """Convert an ONNX file to TFLite.

    A QDQ model becomes full-integer int8 with its scales kept exactly; a float model stays float unless
    ``calibrate`` (iterable of NCHW input batches) is given, then int8 via TFLite's calibration. With
    ``verify`` the TFLite file is compared with ONNX Runtime on random inputs (fp32 files must meet the
    float parity bar; int8 files are reported, not judged: calibration changes numbers by design).
    ``writer``: ``"direct"`` (edgekit writes the flatbuffer, no TensorFlow) or ``"tf"`` (TensorFlow's
    converter; needs the ``tf`` extra); ``calibrate`` always uses TensorFlow.
    """
    import onnx

    start = time.perf_counter()
    source = Path(src)
    out = prepare_output(dst)
    if _format(source) != "onnx":
        raise ConversionError(f"convert() reads .onnx files; {source.name} is not one")
    if _format(out) != "tflite":
        raise ConversionError(f"convert() writes .tflite files; got {out.name}")
    from edgekit.runtime import model_file

    model_file.validate(source)
    try:
        proto = onnx.load(str(source))
    except Exception as exc:
        raise ModelFileError(f"{source} is not a readable ONNX model: {exc}") from exc
    from edgekit.converters.tflite.convert import onnx_to_tflite

    conversion = onnx_to_tflite(proto, calibrate=calibrate, input_shapes=input_shapes, writer=writer)
    with atomic_path(out) as tmp:
        tmp.write_bytes(conversion.flatbuffer)
        report = None
        if verify and len(conversion.inputs) == 1:
            spec = conversion.inputs[0]
            x = np.random.default_rng(0).random((2, *spec.onnx_shape[1:]), dtype=np.float32)
            report = compare(source, tmp, [x[:1], x[1:]])
            if not conversion.quantized:
                _check_parity(report, False, "the TFLite file")
            from edgekit.runtime import Model

            coverage = Model.load(tmp).delegate_coverage()
            conversion.notes.append(
                f"{coverage['delegate']}: {coverage['delegated_nodes']}/{coverage['total_nodes']} nodes delegated"
            )
        ops = _ops_of_file(tmp)
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
