"""The verbs: ``quantize`` (PTQ), ``prepare_qat`` + ``finalize`` (QAT)."""

from __future__ import annotations

import difflib
import logging
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import torch

from edgekit.errors import QuantizationError
from edgekit.placement import device_of
from edgekit.quantization.config import QuantConfig
from edgekit.quantization.quantizer import TFLiteInt8Quantizer
from edgekit.quantization.state import mark, quant_state

log = logging.getLogger(__name__)

Calibration = Iterable[Any] | Callable[[torch.nn.Module], Any]


def _example(example_inputs: Any, device: torch.device | None = None) -> tuple[torch.Tensor, ...]:
    items = example_inputs if isinstance(example_inputs, tuple | list) else (example_inputs,)
    out = []
    for item in items:
        t = torch.from_numpy(np.asarray(item)) if not isinstance(item, torch.Tensor) else item
        if t.ndim == 0:
            raise QuantizationError("example inputs must be batches (first dimension = batch)")
        if t.shape[0] == 1:  # a batch of 2 lets torch.export keep the batch dimension dynamic
            t = torch.cat([t, t])
        t = t.float() if t.is_floating_point() else t
        out.append(t if device is None else t.to(device))
    return tuple(out)


def _check_keep_float(model: torch.nn.Module, config: QuantConfig) -> None:
    names = [n for n, _ in model.named_modules() if n]
    for name in config.keep_float:
        if name not in names:
            close = difflib.get_close_matches(name, names, n=3)
            hint = (
                f"; did you mean {', '.join(close)}?"
                if close
                else f"; layers are e.g. {', '.join(names[:5])}"
            )
            raise QuantizationError(f"keep_float names {name!r}, which is not a layer of this model{hint}")


def capture(model: torch.nn.Module, example_inputs: Any) -> torch.fx.GraphModule:
    """torch.export the model with a dynamic batch dimension (required for QAT with other batch sizes).

    Example inputs are moved to the model's device (a model on a GPU is captured and trained there).
    """
    example = _example(example_inputs, device_of(model))
    batch = torch.export.Dim("batch", min=1, max=4096)
    try:
        program = torch.export.export(model, example, dynamic_shapes=tuple({0: batch} for _ in example))
    except Exception as exc:
        from edgekit.converters.onnx_export import untraceable_message

        raise QuantizationError(untraceable_message(model, exc, "capture", " for quantization")) from exc
    return program.module()


def _calibrate(prepared: torch.nn.Module, calibrate: Calibration, example: tuple[torch.Tensor, ...]) -> int:
    if callable(calibrate):
        calibrate(prepared)
        return -1
    seen = 0
    with torch.no_grad():
        for i, batch in enumerate(calibrate):
            arrays = batch if isinstance(batch, tuple | list) else (batch,)
            tensors = []
            for j, a in enumerate(arrays):
                t = a if isinstance(a, torch.Tensor) else torch.from_numpy(np.asarray(a))
                t = t.float().to(example[j].device if j < len(example) else t.device)
                expected = tuple(example[j].shape[1:]) if j < len(example) else None
                if expected is None or tuple(t.shape[1:]) != expected:
                    raise QuantizationError(
                        f"calibration batch {i} has shape {tuple(t.shape)}; the model takes (N, {', '.join(map(str, expected or ()))})"
                    )
                if not torch.isfinite(t).all():
                    raise QuantizationError(
                        f"calibration batch {i} contains NaN or inf; clean the data first"
                    )
                tensors.append(t)
            prepared(*tensors)
            seen += len(tensors[0])
    if seen == 0:
        raise QuantizationError("calibration data is empty: give at least one batch of representative inputs")
    return seen


def quantize(
    model: torch.nn.Module,
    example_inputs: Any,
    *,
    calibrate: Calibration,
    config: QuantConfig | None = None,
) -> torch.nn.Module:
    """Post-training int8 quantization to the TFLite spec.

    ``calibrate`` is an iterable of input batches (numpy or torch, NCHW) or ``calibrate(model)`` that runs
    forward passes. Returns a model whose forward simulates int8 (quantize/dequantize around each op);
    ``ek.export`` turns it into QDQ ONNX or full-int8 TFLite with the same scales.

    >>> import torch, edgekit as ek                                        # doctest: +SKIP
    >>> q = ek.quantize(model, torch.randn(1, 3, 32, 32), calibrate=batches) # doctest: +SKIP
    """
    from torchao.quantization.pt2e import allow_exported_model_train_eval
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    config = config or QuantConfig()
    _check_keep_float(model, config)
    model = model.eval()
    example = _example(example_inputs, device_of(model))
    prepared = prepare_pt2e(capture(model, example), TFLiteInt8Quantizer(config, qat=False))
    seen = _calibrate(prepared, calibrate, example)
    log.info("calibrated on %s samples with %s", seen if seen >= 0 else "user-run", config.calibrator)
    quantized = convert_pt2e(prepared)
    allow_exported_model_train_eval(quantized)
    mark(quantized, "finalized")
    return quantized


def prepare_qat(
    model: torch.nn.Module, example_inputs: Any, *, config: QuantConfig | None = None
) -> torch.nn.Module:
    """A trainable copy of ``model`` with fake quantization (BatchNorm folding simulated).

    Train it with any loop (``.train()``/``.eval()`` work; DistributedDataParallel works), optionally call
    ``edgekit.quantization.qat_step(model, step)`` each step, then ``ek.finalize(model)``.
    """
    from torchao.quantization.pt2e import allow_exported_model_train_eval
    from torchao.quantization.pt2e.quantize_pt2e import prepare_qat_pt2e

    config = config or QuantConfig()
    _check_keep_float(model, config)
    model = model.train()
    prepared = prepare_qat_pt2e(capture(model, example_inputs), TFLiteInt8Quantizer(config, qat=True))
    allow_exported_model_train_eval(prepared)
    prepared._edgekit_quant_config = config
    mark(prepared, "prepared")
    return prepared


def _sync_buffers_from_rank0(model: torch.nn.Module) -> None:
    """Make every rank finalize the same model.

    DDP broadcasts buffers (BatchNorm statistics, observer ranges) from rank 0 *before* each forward, so
    after the last step each rank holds the ranges of its own last batch. Take rank 0's.
    """
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        for buffer in model.buffers():
            dist.broadcast(buffer.data, src=0)


def finalize(qat_model: torch.nn.Module) -> torch.nn.Module:
    """Freeze a QAT model into its int8 form (the same representation ``quantize`` returns)."""
    from torchao.quantization.pt2e import allow_exported_model_train_eval, move_exported_model_to_eval
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e

    model = qat_model
    if isinstance(qat_model, torch.nn.parallel.DistributedDataParallel):
        model = qat_model.module
        _sync_buffers_from_rank0(model)
    state = quant_state(model)
    if state != "prepared":
        raise QuantizationError(
            "finalize() takes a model returned by ek.prepare_qat"
            + (
                " (this one is already finalized)"
                if state == "finalized"
                else "; this model was never prepared"
            )
        )
    move_exported_model_to_eval(model)
    quantized = convert_pt2e(model)
    allow_exported_model_train_eval(quantized)
    mark(quantized, "finalized")
    return quantized
