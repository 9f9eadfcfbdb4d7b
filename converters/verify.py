"""Parity rules for written files: the bars, the quantized model's noise floor, and the QDQ reference.

``export`` and ``convert`` decide here whether a file they wrote is right (a wrong file raises
:class:`~edgekit.errors.ParityError` and is never left on disk); ``converters/api.py`` only routes.

* float files must match PyTorch (or ONNX Runtime) to cosine ``FLOAT_COSINE`` and a max abs error of
  ``FLOAT_REL_MAX_ABS`` times the output range;
* int8 files must match the quantized PyTorch model to cosine ``INT8_COSINE``, or be at most
  ``FLOOR_FACTOR`` times as far as that model moves from itself when rounding ties fall the other way
  (:func:`noise_floor`); such a pass comes with a note.

>>> from edgekit.converters.parity import ParityReport
>>> check_parity(ParityReport(0.0, 0.0, 1.0, 1.0, 1.0, 1, 1.0), quantized=False, what="the file")
[]
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.converters.parity import ParityReport, compare, runner
from edgekit.errors import ParityError
from edgekit.results import unwrap_model
from edgekit.tensorio import to_numpy_list

log = logging.getLogger(__name__)

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
        return to_numpy_list(Perturbed(model).run(torch.from_numpy(x).to(device_of(model))))


def noise_floor(model: Any, x: np.ndarray, samples: int = 8) -> float:
    """The lowest cosine between ``model``'s outputs on ``x`` and its outputs when every quantized tensor's
    float value is moved by a relative ``TIE_NOISE`` (float32 sums in another order do that).

    A quantized network is discontinuous: a value landing on the other side of a rounding tie can move the
    logits by many output steps when the network amplifies it. No other implementation (ONNX Runtime,
    TFLite) can follow the float-simulated PyTorch model more closely than that model follows itself
    under such noise. Models that are not exported graphs get the noise on their input instead.
    """
    import torch

    model = unwrap_model(model)
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


def check_parity(
    report: ParityReport, quantized: bool, what: str, floor: Callable[[], float] | None = None
) -> list[str]:
    """Raise ParityError when the file is off; notes when it passes only within the model's noise floor.

    ``floor`` computes the noise floor lazily (it costs 8 runs of the model) for quantized files below
    ``INT8_COSINE``; without one, such a file fails.
    """
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


def qdq_reference(path: str | Path) -> Any:
    """A QDQ ONNX file loaded in ``edgekit.runtime`` with ONNX semantics (basic graph optimizations: no
    fused int8 kernels), on the CPU.

    Measured on an AVX2 CPU without VNNI: ONNX Runtime's fused QLinearConv/QGemm kernels (extended
    optimizations) moved a digits CNN's logits by up to ~30 output steps (int16 saturation of
    multiply-add pairs), while basic optimizations reproduce the TFLite file bit for bit. The file is
    judged by its semantics; ``Model.load`` with ORT's defaults still reports what ORT measures.
    """
    from edgekit.runtime import Model

    return Model.load(path, backend="onnxruntime", delegate="cpu", ort_optimization="basic")


def verify_export(
    path: Path,
    torch_outputs: list[np.ndarray],
    inputs: list[np.ndarray],
    quantized: bool,
    what: str,
    floor: Callable[[], float] | None,
) -> tuple[ParityReport | None, list[str]]:
    """Compare the written file with the PyTorch outputs on the example inputs; (report, notes).

    A multi-input model gets its inputs as one tuple batch.
    """
    from edgekit.runtime import Model

    model = qdq_reference(path) if quantized and path.suffix == ".onnx" else Model.load(path)
    outputs = model.run(inputs)
    outputs = outputs if isinstance(outputs, list) else [outputs]
    batch = inputs[0] if len(inputs) == 1 else tuple(inputs)
    report = compare(lambda *_: torch_outputs, lambda *_: outputs, [batch])
    notes = check_parity(report, quantized, what, floor)
    for note in notes:
        log.warning("%s", note)
    return report, notes


def verify_conversion(source: Path, written: Path, proto: Any, conversion: Any) -> ParityReport:
    """Compare a converted TFLite file with its ONNX source in ONNX Runtime on two check samples.

    The samples are drawn per input dtype (token ids inside the vocabulary the graph indexes, see
    :mod:`edgekit.converters.check_data`). Float files must meet the float bar; int8 files are reported,
    not judged (calibration changes numbers by design).
    """
    from edgekit.converters.check_data import check_batches

    specs = conversion.inputs
    batches = check_batches(
        proto, [s.onnx_shape for s in specs], [s.dtype for s in specs], [s.name for s in specs]
    )
    report = compare(source, written, batches)
    if not conversion.quantized:
        check_parity(report, False, "the TFLite file")
    return report
