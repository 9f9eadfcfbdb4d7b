"""The verbs: ``quantize`` (PTQ), ``prepare_qat`` + ``finalize`` (QAT)."""

from __future__ import annotations

import copy
import difflib
import itertools
import logging
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any

import torch

from edgekit.deprecation import warn_old_style
from edgekit.errors import QuantizationError
from edgekit.placement import device_of
from edgekit.quantization.adaround import adaround, record_layer_inputs
from edgekit.quantization.auto_keep import AutoKeepReport
from edgekit.quantization.bias_correction import correct_biases, record_input_means
from edgekit.quantization.config import Calibrator, Equalization, QuantConfig, QuantScheme
from edgekit.quantization.equalize import equalize
from edgekit.quantization.quantizer import TFLiteInt8Quantizer
from edgekit.quantization.state import mark, mark_int16_layers, mark_scheme, quant_state
from edgekit.results import VerbResult, unwrap_model
from edgekit.tensorio import as_example_tuple

log = logging.getLogger(__name__)

Calibration = Iterable[Any] | Callable[[torch.nn.Module], Any]
ADAROUND_SAMPLES = 16  # calibration samples whose layer inputs AdaRound keeps (memory: every layer's input)


def _example(example_inputs: Any, device: torch.device | None = None) -> tuple[torch.Tensor, ...]:
    """Example inputs as float batches of at least 2 (a batch of 2 lets torch.export keep the batch
    dimension dynamic), on ``device``."""
    out = []
    for t in as_example_tuple(example_inputs, error=QuantizationError, device=device):
        if t.ndim == 0:
            raise QuantizationError("example inputs must be batches (first dimension = batch)")
        if t.shape[0] == 1:
            t = torch.cat([t, t])
        out.append(t.float() if t.is_floating_point() else t)
    return tuple(out)


def _modes(model: torch.nn.Module) -> list[tuple[torch.nn.Module, bool]]:
    """Every submodule's train/eval flag, to put back after capture (the caller's model keeps its mode)."""
    return [(m, m.training) for m in model.modules()]


def _restore(modes: list[tuple[torch.nn.Module, bool]]) -> None:
    for module, training in modes:
        module.training = training


def _check_keep_float(model: torch.nn.Module, config: QuantConfig) -> None:
    names = [n for n, _ in model.named_modules() if n]
    for field, name in [("keep_float", n) for n in config.keep_float] + [
        ("int16_layers", n) for n in config.int16_layers
    ]:
        if name not in names:
            close = difflib.get_close_matches(name, names, n=3)
            hint = (
                f"; did you mean {', '.join(close)}?"
                if close
                else f"; layers are e.g. {', '.join(names[:5])}"
            )
            raise QuantizationError(f"{field} names {name!r}, which is not a layer of this model{hint}")


def _with_aliases(model: torch.nn.Module, config: QuantConfig) -> QuantConfig:
    """``config`` with every path of each layer named in ``keep_float`` / ``int16_layers``: a module
    registered under two names (a detection head's ``detect``, also ``model.23``) is matched by the path
    its forward call takes, which may be the other one."""
    paths: dict[int, list[str]] = {}
    for name, module in model.named_modules(remove_duplicate=False):
        paths.setdefault(id(module), []).append(name)
    modules = dict(model.named_modules())

    def expand(names: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(dict.fromkeys(p for n in names for p in paths[id(modules[n])]))

    return replace(config, keep_float=expand(config.keep_float), int16_layers=expand(config.int16_layers))


def _is_example(value: Any) -> bool:
    return isinstance(value, tuple) and bool(value) and all(isinstance(t, torch.Tensor) for t in value)


def capture(model: torch.nn.Module, example_inputs: Any) -> torch.fx.GraphModule:
    """torch.export the model with a dynamic batch dimension (required for QAT with other batch sizes).

    Example inputs are moved to the model's device (a model on a GPU is captured and trained there).
    """
    example = example_inputs if _is_example(example_inputs) else _example(example_inputs, device_of(model))
    batch = torch.export.Dim("batch", min=1, max=4096)
    try:
        program = torch.export.export(model, example, dynamic_shapes=tuple({0: batch} for _ in example))
    except Exception as exc:
        from edgekit.converters.onnx_export import untraceable_message

        raise QuantizationError(untraceable_message(model, exc, "capture", " for quantization")) from exc
    return program.module()


_RANDOM_OPS = frozenset(
    {
        "rand",
        "rand_like",
        "randn",
        "randn_like",
        "randint",
        "randint_like",
        "randperm",
        "bernoulli",
        "bernoulli_",
        "uniform",
        "uniform_",
        "normal",
        "normal_",
        "multinomial",
        "exponential_",
        "poisson",
    }
)


def _check_no_random_ops(model: torch.nn.Module, captured: torch.fx.GraphModule) -> None:
    """A random draw taken in training mode (drop-connect, stochastic depth) is frozen into the QAT graph:
    the finalized model would keep drawing, and its export fails on RandomUniformLike / Bernoulli.
    ``nn.Dropout`` is not one of them (PT2E switches it off in ``finalize``)."""
    for node in captured.graph.nodes:
        name = getattr(getattr(node.target, "_overloadpacket", None), "__name__", "")
        if node.op == "call_function" and name in _RANDOM_OPS:
            where = (node.meta.get("stack_trace") or "").strip().splitlines()[-2:]
            raise QuantizationError(
                f"{type(model).__name__} draws random numbers in training mode ({name} at "
                f"{' '.join(line.strip() for line in where) or 'an unknown place'}): QAT captures the training "
                "graph, so the draw would stay in the int8 model. Switch drop-connect / stochastic depth off "
                "before ek.prepare_qat (a rate of 0, e.g. timm's drop_path_rate=0 or torchvision's "
                "StochasticDepth p=0); nn.Dropout may stay"
            )


def _check_finite(calibrate: Calibration) -> None:
    """NaN / inf in a calibration list fails before the (slow) capture, not halfway through calibration."""
    if callable(calibrate) or not isinstance(calibrate, list | tuple):
        return
    for i, batch in enumerate(calibrate):
        for a in as_example_tuple(batch, error=QuantizationError):
            if a.is_floating_point() and not torch.isfinite(a).all():
                raise QuantizationError(f"calibration batch {i} contains NaN or inf; clean the data first")


def _warn_thin(samples: int, spread: list[float]) -> None:
    """Warn when the calibration data cannot represent real inputs: one sample, or only constant inputs."""
    if samples == 1:
        warnings.warn(
            "calibrated on a single sample: activation ranges fit that one input and other inputs will clip; "
            "give 100+ representative inputs",
            UserWarning,
            stacklevel=3,
        )
    elif spread and max(spread) == 0.0:
        warnings.warn(
            "every calibration input is constant (no variation inside any sample): activation ranges will "
            "not fit real inputs and int8 accuracy will suffer; calibrate on real, representative inputs",
            UserWarning,
            stacklevel=3,
        )


def _batch(batch: Any, i: int, example: tuple[torch.Tensor, ...]) -> list[torch.Tensor]:
    """Calibration batch ``i`` as tensors in the dtypes and on the devices of the example inputs, checked
    against them: one tensor per input, same shape after the batch dimension, a floating dtype where the
    model takes float (token ids stay integers), finite values."""
    items = as_example_tuple(batch, error=QuantizationError)
    if len(items) != len(example):
        raise QuantizationError(
            f"calibration batch {i} has {len(items)} tensors; the model takes {len(example)} inputs: give one "
            "batch per input (a tuple of tensors for a multi-input model)"
        )
    tensors = []
    for j, (a, ref) in enumerate(zip(items, example, strict=True)):
        expected = tuple(ref.shape[1:])
        if tuple(a.shape[1:]) != expected or a.ndim != ref.ndim:
            raise QuantizationError(
                f"calibration batch {i} has shape {tuple(a.shape)}; the model takes (N, {', '.join(map(str, expected))})"
            )
        if ref.is_floating_point() and not a.is_floating_point():
            raise QuantizationError(
                f"calibration batch {i} (input {j}) has dtype {a.dtype}; the model takes {ref.dtype}: give float "
                "batches preprocessed like the model's inputs (e.g. images scaled and normalised, not raw uint8)"
            )
        t = _like_example(a, ref, i, j)
        if t.is_floating_point() and not torch.isfinite(t).all():
            raise QuantizationError(f"calibration batch {i} contains NaN or inf; clean the data first")
        tensors.append(t)
    return tensors


def _first_batch(calibrate: Calibration, example: tuple[torch.Tensor, ...]) -> Calibration:
    """Check the first calibration batch before any work (capture takes minutes on big models); returns
    an iterable that still yields it."""
    if callable(calibrate):
        return calibrate
    batches = iter(calibrate)
    first = next(batches, None)
    if first is None:
        raise QuantizationError("calibration data is empty: give at least one batch of representative inputs")
    _batch(first, 0, example)
    return itertools.chain([first], batches)


def _calibrate(prepared: torch.nn.Module, calibrate: Calibration, example: tuple[torch.Tensor, ...]) -> int:
    if callable(calibrate):
        calibrate(prepared)
        return -1
    seen = 0
    spread: list[float] = []
    with torch.no_grad():
        for i, batch in enumerate(calibrate):
            tensors = _batch(batch, i, example)
            if tensors[0].is_floating_point():
                spread.append(float(tensors[0].reshape(len(tensors[0]), -1).std(1, correction=0).max()))
            _run_batch(prepared, tensors, i)
            seen += len(tensors[0])
    if seen == 0:
        raise QuantizationError("calibration data is empty: give at least one batch of representative inputs")
    _warn_thin(seen, spread)
    return seen


def _like_example(a: torch.Tensor, example: torch.Tensor | None, i: int, j: int) -> torch.Tensor:
    """A calibration tensor in the dtype and on the device of the example input it stands for: token ids
    (an integer / bool example) stay integers, from the user's data as given; anything else is float."""
    if example is None:
        return a.float()
    if example.is_floating_point():
        return a.float().to(example.device)
    if a.is_floating_point() and not torch.equal(a, a.round()):
        raise QuantizationError(
            f"calibration batch {i}, input {j}: the model takes {example.dtype} values (token ids) there, got "
            "fractional numbers; give the ids your tokenizer produced"
        )
    return a.to(device=example.device, dtype=example.dtype)


def _run_batch(prepared: torch.nn.Module, tensors: list[torch.Tensor], i: int) -> None:
    """One calibration forward pass; ids outside an embedding table are named with the table sizes."""
    try:
        prepared(*tensors)
    except (IndexError, RuntimeError) as exc:
        integer = [j for j, t in enumerate(tensors) if not t.is_floating_point() and t.dtype != torch.bool]
        if not integer or "index" not in str(exc).lower():
            raise
        ranges = ", ".join(f"input {j}: {int(tensors[j].min())}..{int(tensors[j].max())}" for j in integer)
        tables = sorted(
            {
                int(node.meta["val"].shape[0])
                for node in getattr(prepared, "graph", torch.fx.Graph()).nodes
                if node.op == "get_attr"
                and "val" in node.meta
                and any(
                    user.target is torch.ops.aten.embedding.default and user.args[0] is node
                    for user in node.users
                )
            }
        )
        raise QuantizationError(
            f"calibration batch {i} has token ids outside the model's embeddings ({ranges}"
            + (f"; embedding tables of {', '.join(map(str, tables))} rows" if tables else "")
            + "): calibrate with ids from your tokenizer, inside the vocabulary"
        ) from exc


@dataclass
class QuantizeResult(VerbResult):
    """The int8-simulating model ``ek.quantize`` made, with its config and how many samples calibrated it.

    ``calibration_samples`` is -1 when ``calibrate`` was a callable (edgekit does not see the data), 0 for
    the weight-only schemes (``float16``, ``dynamic_int8``: ``model`` is a float copy that ``ek.export``
    writes with those weight types).

    For one release the result also stands in for its model (``result(x)``, ``result.graph``, ...) with a
    DeprecationWarning, because ``ek.quantize`` used to return the module itself; use ``result.model``.

    ``auto_keep`` is the :class:`~edgekit.quantization.auto_keep.AutoKeepReport` of a
    ``QuantConfig(auto_keep=...)`` search (None otherwise); ``config`` is then the config of the returned
    model, with the kept layers in ``int16_layers`` / ``keep_float``.
    """

    model: Any
    config: QuantConfig
    calibration_samples: int
    auto_keep: AutoKeepReport | None = None

    def summary(self) -> str:
        scheme = QuantScheme(self.config.scheme)
        if not scheme.calibrated:
            return f"{scheme.value} weights (TFLite spec), float activations, no calibration"
        seen = (
            "a user-run calibration"
            if self.calibration_samples < 0
            else f"{self.calibration_samples} samples"
        )
        corrected = ", bias-corrected" if self.config.bias_correction else ""
        kept = f"; {self.auto_keep.summary()}" if self.auto_keep is not None else ""
        return f"{scheme.value} (TFLite spec), {Calibrator(self.config.calibrator).value} ranges from {seen}{corrected}{kept}"

    def __getattr__(self, name: str) -> Any:
        model = self.__dict__.get("model")
        if name.startswith("__") or model is None:
            raise AttributeError(name)
        warn_old_style("using ek.quantize's return value as the model", "result.model")
        return getattr(model, name)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        warn_old_style("calling ek.quantize's return value", "result.model(...)")
        return self.model(*args, **kwargs)


def quantize(
    model: torch.nn.Module | Any,
    example_inputs: Any,
    config: QuantConfig | None = None,
    *,
    calibrate: Calibration | None = None,
) -> QuantizeResult:
    """Post-training quantization to the TFLite spec; returns a :class:`QuantizeResult`.

    ``config.scheme`` picks the tensor types (:class:`QuantScheme`): ``int8`` (default) and ``int16x8``
    (int16 activations, int8 weights) are calibrated and need ``calibrate``; ``float16`` and
    ``dynamic_int8`` quantize weights only, when the file is written, and ignore calibration data (a
    warning says so).

    ``calibrate`` is the PT2E calibration (the observers see these activations): an iterable of input
    batches (numpy or torch, NCHW; each batch a tensor / array or a tuple of them, one per input) or
    ``calibrate(model)`` that runs forward passes. ``example_inputs``: a tensor, an array, or a list /
    tuple of them. ``result.model`` simulates int8 (quantize/dequantize around each op); ``ek.export``
    turns it (or the result itself) into QDQ ONNX or full-int8 TFLite with the same scales. The caller's
    model keeps its weights and its train/eval flag.

    >>> import torch, edgekit as ek                                                 # doctest: +SKIP
    >>> q = ek.quantize(model, torch.randn(1, 3, 32, 32), calibrate=batches).model  # doctest: +SKIP
    """
    from torchao.quantization.pt2e import allow_exported_model_train_eval
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    config = config or QuantConfig()
    model = unwrap_model(model)
    scheme = QuantScheme(config.scheme)
    if not scheme.calibrated:
        return _weight_only(model, config, calibrate)
    if calibrate is None:
        raise QuantizationError(
            f"scheme {scheme.value!r} sets activation ranges from calibration data: pass calibrate=batches "
            "(a few hundred representative inputs), or choose scheme 'float16' / 'dynamic_int8', which need none"
        )
    _check_keep_float(model, config)
    _check_finite(calibrate)
    if config.auto_keep is not None:
        return _auto_keep(model, example_inputs, config, calibrate)
    modes = _modes(model)
    try:
        model.eval()
        example = _example(example_inputs, device_of(model))
        calibrate = _first_batch(calibrate, example)
        captured = capture(model, example)
    finally:
        _restore(modes)
    prepared = prepare_pt2e(captured, TFLiteInt8Quantizer(_with_aliases(model, config), qat=False))
    if config.equalization != Equalization.OFF:
        equalize(prepared, relu6_as_relu=config.equalization == Equalization.RELU6_AS_RELU)
    means = record_input_means(prepared) if config.bias_correction else None
    inputs = record_layer_inputs(prepared, ADAROUND_SAMPLES) if config.adaround else None
    seen = _calibrate(prepared, calibrate, example)
    originals = adaround(prepared, inputs, config.adaround_iterations)[0] if inputs is not None else None
    if means is not None:
        log.info("bias correction: %d layers", correct_biases(prepared, means, originals))
    log.info("calibrated on %s samples with %s", seen if seen >= 0 else "user-run", config.calibrator)
    quantized = convert_pt2e(prepared)
    allow_exported_model_train_eval(quantized)
    mark(quantized, "finalized")
    mark_scheme(quantized, scheme.value)
    mark_int16_layers(quantized, config.int16_layers)
    return QuantizeResult(quantized, config, seen)


def _auto_keep(
    model: torch.nn.Module, example_inputs: Any, config: QuantConfig, calibrate: Calibration
) -> QuantizeResult:
    """``QuantConfig(auto_keep=...)``: the search measures parity on the calibration batches, so they
    must be data, not a callable."""
    from edgekit.quantization.auto_keep import search

    if callable(calibrate):
        raise QuantizationError(
            "auto_keep measures parity on the calibration batches: pass calibrate=batches (a list of input "
            "batches), not a callable"
        )
    batches = list(calibrate)
    if not batches:
        raise QuantizationError("calibration data is empty: give at least one batch of representative inputs")
    modes = _modes(model)
    try:
        return search(model.eval(), example_inputs, config, batches)
    finally:
        _restore(modes)


def _weight_only(
    model: torch.nn.Module, config: QuantConfig, calibrate: Calibration | None
) -> QuantizeResult:
    """``float16`` / ``dynamic_int8``: a float copy marked with the scheme; the writer sets the types."""
    scheme = QuantScheme(config.scheme)
    if calibrate is not None:
        warnings.warn(
            f"scheme {scheme.value!r} quantizes weights only and ignores calibration data: drop calibrate= "
            "(or use scheme 'int8' / 'int16x8' to calibrate activations)",
            UserWarning,
            stacklevel=3,
        )
    copied = copy.deepcopy(model).eval()
    mark_scheme(copied, scheme.value)
    return QuantizeResult(copied, config, 0)


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
    if not QuantScheme(config.scheme).calibrated:
        raise QuantizationError(
            f"scheme {QuantScheme(config.scheme).value!r} quantizes weights only when the file is written: "
            "there is nothing to train; use ek.quantize(model, x, config=config), or QAT with 'int8' / 'int16x8'"
        )
    if config.auto_keep is not None:
        raise QuantizationError(
            "auto_keep is a post-training search (it re-quantizes and measures parity per step): run "
            "ek.quantize(model, x, config=config, calibrate=batches), then train QAT with the layers it kept: "
            "QuantConfig(int16_layers=result.config.int16_layers, keep_float=result.config.keep_float)"
        )
    model = unwrap_model(model)
    _check_keep_float(model, config)
    modes = _modes(model)
    try:
        captured = capture(model.train(), example_inputs)
    finally:
        _restore(modes)
    _check_no_random_ops(model, captured)
    prepared = prepare_qat_pt2e(captured, TFLiteInt8Quantizer(_with_aliases(model, config), qat=True))
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

    model = unwrap_model(qat_model)
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
    config = getattr(model, "_edgekit_quant_config", None)
    mark_scheme(quantized, QuantScheme(config.scheme).value if config is not None else "int8")
    return quantized
