"""Compare two models on the same inputs: PyTorch modules, model files, or runtime Models.

>>> import numpy as np
>>> r = compare(lambda x: x * 2, lambda x: x * 2 + 1e-7, [np.ones((2, 4), np.float32)])
>>> r.top1_agreement, r.n
(1.0, 2)
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.config import VerbConfig
from edgekit.errors import InputSpecError, OutputMismatchError
from edgekit.results import VerbResult, unwrap_model
from edgekit.tensorio import as_example_tuple, to_numpy_list

Runner = Callable[[Any], list[np.ndarray]]


@dataclass(frozen=True)
class CompareConfig(VerbConfig):
    """Settings of :func:`compare`. ``per_layer``: also match intermediate tensors by name and report
    each layer's error in quantization steps and the first layer that diverges (slower)."""

    per_layer: bool = False


@dataclass
class ParityReport(VerbResult):
    """How closely ``candidate`` reproduces ``reference``.

    ``max_abs``/``mean_abs`` over all outputs; cosine similarity per sample (min and mean);
    ``top1_agreement``: fraction of samples (pixels for dense outputs) with the same argmax over the
    class axis (1); ``n``: samples compared. ``output_range``: max - min of the reference outputs.
    ``layers``/``first_divergence`` are filled by ``per_layer=True``.
    """

    max_abs: float
    mean_abs: float
    cosine_min: float
    cosine_mean: float
    top1_agreement: float
    n: int
    output_range: float
    layers: list[Any] | None = None
    first_divergence: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if self.layers is not None:
            data["layers"] = [
                layer.to_dict() if hasattr(layer, "to_dict") else layer for layer in self.layers
            ]
        return data

    def within(self, *, cosine: float = 0.9999, rel_max_abs: float = 1e-3) -> bool:
        """True when cosine_min >= ``cosine`` and max_abs <= ``rel_max_abs`` x the reference output range."""
        return self.cosine_min >= cosine and self.max_abs <= rel_max_abs * max(self.output_range, 1e-12)

    def summary(self) -> str:
        return (
            f"n={self.n} max_abs={self.max_abs:.3g} (range {self.output_range:.3g}) mean_abs={self.mean_abs:.3g} "
            f"cosine_min={self.cosine_min:.6f} top1={self.top1_agreement:.4f}"
        )


def runner(model: Any) -> Runner:
    """A numpy-in, list-of-numpy-out callable for a torch module, a model file, a Model, a verb's result
    (its ``.model``) or a callable."""
    model = _as_model(model)
    if isinstance(model, str | os.PathLike):
        from edgekit.runtime import Model

        model = Model.load(Path(model))
    if _is_torch_module(model):
        import torch

        from edgekit.placement import device_of

        device = device_of(model)

        def run_torch(x: np.ndarray | tuple[np.ndarray, ...]) -> list[np.ndarray]:
            with torch.no_grad():
                return to_numpy_list(model(*as_example_tuple(x, device=device)))

        return run_torch

    def run_numpy(x: np.ndarray | tuple[np.ndarray, ...]) -> list[np.ndarray]:
        return to_numpy_list(model(*x) if isinstance(x, tuple) else model(x))

    return run_numpy


def _as_model(obj: Any) -> Any:
    """A result's model, or an export result's file."""
    obj = unwrap_model(obj)
    path = getattr(obj, "path", None) if isinstance(obj, VerbResult) else None
    return obj if path is None else path


def _is_torch_module(obj: Any) -> bool:
    torch = sys.modules.get("torch")  # a torch module can only exist if torch is already imported
    return torch is not None and isinstance(obj, torch.nn.Module)


def _batches(inputs: Any) -> Iterable[Any]:
    if isinstance(inputs, np.ndarray):
        yield inputs
        return
    for batch in inputs:
        if isinstance(batch, tuple):  # one batch of a multi-input model
            yield tuple(_array(b) for b in batch)
        else:
            yield _array(batch)


def _array(batch: Any) -> np.ndarray:
    """A numpy batch; integer / boolean inputs (token ids, masks) keep their dtype, the rest is float32."""
    array = np.asarray(batch.numpy() if hasattr(batch, "numpy") else batch)
    return array if array.dtype.kind in "iub" else array.astype(np.float32)


def compare(
    reference: Any,
    candidate: Any,
    inputs: Any,
    config: CompareConfig | None = None,
    *,
    per_layer: bool | None = None,
) -> ParityReport:
    """Run both models on every batch of ``inputs`` (NCHW arrays) and measure how far apart they are.

    A batch of a multi-input model is a tuple of arrays, one per input.

    ``reference`` / ``candidate``: torch modules, model files, runtime Models, numpy callables, or verb
    results (their ``.model``; an ``ExportResult`` stands for its file). Models whose outputs differ in
    number or shape raise :class:`~edgekit.errors.OutputMismatchError`; empty ``inputs`` an
    :class:`~edgekit.errors.InputSpecError`. ``per_layer=True`` (shorthand for
    ``config=CompareConfig(per_layer=True)``) also matches intermediate tensors by name (quantized PyTorch / ONNX QDQ / TFLite
    int8) and reports each layer's error in quantization steps and the first layer that diverges.
    """
    per_layer = bool(per_layer) or (config is not None and config.per_layer)
    reference, candidate = _as_model(reference), _as_model(candidate)
    ref_run, cand_run = runner(reference), runner(candidate)
    abs_max, abs_sum, count, cosines, agree, agree_n = 0.0, 0.0, 0, [], 0.0, 0
    lo, hi = np.inf, -np.inf
    n = 0
    for x in _batches(inputs):
        refs, cands = ref_run(x), cand_run(x)
        if len(refs) != len(cands):
            raise OutputMismatchError(
                f"the models have {len(refs)} and {len(cands)} outputs; they cannot be compared: compare models "
                "with the same outputs (or wrap one so it returns the outputs the other does)"
            )
        for r, c in zip(refs, cands, strict=True):
            r, c = np.asarray(r, np.float64), np.asarray(c, np.float64)
            if r.shape != c.shape:
                raise OutputMismatchError(
                    f"output shapes differ: reference {r.shape}, candidate {c.shape}; compare a model with its "
                    "own export (same input shape, same output layout)"
                )
            diff = np.abs(r - c)
            abs_max = max(abs_max, float(diff.max(initial=0.0)))
            abs_sum += float(diff.sum())
            count += diff.size
            lo, hi = min(lo, float(r.min())), max(hi, float(r.max()))
        r0, c0 = np.asarray(refs[0], np.float64), np.asarray(cands[0], np.float64)
        flat_r, flat_c = r0.reshape(len(r0), -1), c0.reshape(len(c0), -1)
        norms = np.linalg.norm(flat_r, axis=1) * np.linalg.norm(flat_c, axis=1)
        cos = np.where(norms > 0, (flat_r * flat_c).sum(1) / np.maximum(norms, 1e-300), 1.0)
        cosines.extend(cos.tolist())
        if r0.ndim >= 2:
            match = r0.argmax(1) == c0.argmax(1)
            agree += float(match.mean()) * len(r0)
            agree_n += len(r0)
        n += len(r0)
    if n == 0:
        raise InputSpecError("inputs is empty: give at least one batch of NCHW inputs")
    report = ParityReport(
        max_abs=abs_max,
        mean_abs=abs_sum / max(count, 1),
        cosine_min=float(min(cosines)),
        cosine_mean=float(np.mean(cosines)),
        top1_agreement=agree / agree_n if agree_n else 1.0,
        n=n,
        output_range=hi - lo,
    )
    if per_layer:
        from edgekit.converters.layerwise import compare_layers

        report.layers, report.first_divergence = compare_layers(reference, candidate, inputs)
    return report
