"""PyTorch -> ONNX with the dynamo exporter (opset 18), optimized, checked, and verified in ONNX Runtime."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.errors import ExportError, InputSpecError
from edgekit.placement import on_cpu
from edgekit.progress import stage
from edgekit.quantization.state import quant_state
from edgekit.runtime.metadata import METADATA_KEY, ModelMetadata, TensorLayout
from edgekit.tensorio import as_example_tuple

log = logging.getLogger(__name__)

OPSET = 18


@dataclass
class OnnxExport:
    """An exported model in memory, with the PyTorch outputs it was verified against."""

    model: Any  # onnx.ModelProto
    input_names: list[str]
    output_names: list[str]
    example_inputs: tuple[Any, ...]
    torch_outputs: list[np.ndarray]
    quantized: bool


def as_tuple(example_inputs: Any) -> tuple[Any, ...]:
    """Example inputs as a tuple of CPU torch tensors (see :func:`edgekit.tensorio.as_example_tuple`)."""
    return as_example_tuple(example_inputs, error=ExportError, device="cpu")


def _leaf_name(path: Any) -> str:
    """``['boxes'][0]`` -> ``boxes.0``; ``.logits`` -> ``logits`` (a pytree key path as an ONNX name)."""
    import torch.utils._pytree as pytree

    parts = []
    for key in path:
        if isinstance(key, pytree.MappingKey):
            parts.append(str(key.key))
        elif isinstance(key, pytree.GetAttrKey):
            parts.append(key.name)
        elif isinstance(key, pytree.SequenceKey):
            parts.append(str(key.idx))
        else:
            parts.append(str(key))
    return ".".join(parts)


def _plain(out: Any) -> Any:
    """Dataclasses (``ModelOutput`` too) and mappings as plain dicts, in field/key order."""
    if dataclasses.is_dataclass(out) and not isinstance(out, type) and not isinstance(out, Mapping):
        return {f.name: _plain(getattr(out, f.name)) for f in dataclasses.fields(out)}
    if isinstance(out, Mapping):  # transformers' ModelOutput: a dict of its non-None fields
        return {k: _plain(v) for k, v in out.items()}
    if isinstance(out, list):
        return [_plain(v) for v in out]
    if isinstance(out, tuple) and not hasattr(out, "_fields"):
        return tuple(_plain(v) for v in out)
    return out


def flatten_outputs(out: Any) -> tuple[list[str], list[Any]]:
    """Names and tensors of a model's output in ``torch.utils._pytree`` order.

    A tensor is ``output``; a flat tuple/list gives ``output_0, output_1 ...``; dicts, namedtuples,
    dataclasses and ``transformers`` ``ModelOutput`` give their keys (nested: ``boxes.0``). A leaf that is
    not a tensor raises :class:`~edgekit.errors.ExportError` naming its key.
    """
    import torch
    import torch.utils._pytree as pytree

    if isinstance(out, torch.Tensor):
        return ["output"], [out]
    leaves, _ = pytree.tree_flatten_with_path(_plain(out))
    names, tensors = [], []
    structured = not (isinstance(out, tuple | list) and not hasattr(out, "_fields"))
    for i, (path, leaf) in enumerate(leaves):
        name = _leaf_name(path)
        if not isinstance(leaf, torch.Tensor):
            raise ExportError(
                f"the model's output {name or i!r} is a {type(leaf).__name__}, not a tensor: return only tensors "
                "from forward() (drop it, or wrap the model in a module that returns the tensors you need)"
            )
        names.append(name if structured else f"output_{name}")
        tensors.append(leaf)
    if not tensors:
        raise ExportError(
            "the model returns no tensor: forward() must return a tensor or a structure of tensors"
        )
    return names, tensors


def _flat_model(model: Any) -> Any:
    """``model`` returning its outputs as a flat tuple (for outputs the exporter cannot flatten itself)."""
    import torch

    class FlatOutputs(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, *args: Any) -> tuple[Any, ...]:
            return tuple(flatten_outputs(self.inner(*args))[1])

    flat = FlatOutputs(model)
    flat.training = False  # the wrapped model's mode is already set; only the wrapper's flag is left
    return flat


def torch_outputs(model: Any, inputs: Sequence[Any]) -> list[np.ndarray]:
    """The model's outputs on ``inputs`` as numpy arrays, flattened like :func:`flatten_outputs`."""
    return [t.detach().cpu().numpy() for t in _run_named(model, inputs)[1]]


def _run_named(model: Any, inputs: Sequence[Any]) -> tuple[list[str], list[Any], Any]:
    import torch

    try:
        with torch.no_grad():
            out = model(*inputs)
    except IndexError as exc:
        integer = [
            i for i, x in enumerate(inputs) if not torch.is_floating_point(x) and x.dtype != torch.bool
        ]
        if not integer:
            raise
        ranges = ", ".join(f"input {i}: {int(inputs[i].min())}..{int(inputs[i].max())}" for i in integer)
        sizes = sorted({m.num_embeddings for m in model.modules() if isinstance(m, torch.nn.Embedding)})
        raise InputSpecError(
            f"the model rejected its integer example inputs ({exc}): values {ranges}"
            + (f"; its embeddings take indices 0..{sizes[0] - 1}" if sizes else "")
            + ": give token ids inside the vocabulary"
        ) from exc
    names, tensors = flatten_outputs(out)
    return names, tensors, out


def _cause(exc: BaseException) -> str:
    text = " ".join(_ANSI.sub("", str(exc)).split())
    return text[:1200] + ("…" if len(text) > 1200 else "")


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def untraceable_message(model: Any, exc: BaseException, action: str = "trace", purpose: str = "") -> str:
    """One line: which code/op torch.export could not ``action`` (``purpose``: e.g. " for quantization"),
    and what to do about it. The full error goes to the DEBUG log."""
    log.debug("torch.export failed on %s:\n%s", type(model).__name__, _ANSI.sub("", str(exc)))
    text = _ANSI.sub("", str(exc))
    summary = re.search(r"Exception summary\s+<class '([\w.]+)'>: ([^\n]+)", text)
    kind, what = (
        (summary.group(1).rsplit(".", 1)[-1], summary.group(2))
        if summary
        else (
            type(exc).__name__,
            next((line for line in text.splitlines() if line.strip()), type(exc).__name__),
        )
    )
    where = re.findall(r'File "([^"]+)", line (\d+), in (\w+)(?:\n[ \t]+(\S[^\n]*))?', text)
    at = ""
    if where:
        file, line, func, code = where[-1]
        at = f" at {Path(file).name}:{line} in {func}()" + (f" `{code.strip()[:120]}`" if code else "")
    data_dependent = "data-dependent" in text or "DataDependent" in kind
    advice = (
        "data-dependent Python control flow or output shape (NMS, boolean masks, .item(), `if` on a "
        "tensor): export the part before it (backbone and head) and run that step after the model, or use "
        "torch.cond / fixed-size ops"
        if data_dependent
        else "make forward() traceable (no Python side effects, tensors in and out) or export the traceable part "
        "(backbone and head) and run the rest in Python"
    )
    return (
        f"torch.export could not {action} {type(model).__name__}{purpose}{at}: {kind}: {' '.join(what.split())[:300]} — "
        f"{advice}; run with --debug (or logging at DEBUG) for the full trace"
    )


def export_onnx(
    model: Any,
    example_inputs: Any,
    *,
    opset: int = OPSET,
    dynamic_batch: bool = True,
    input_names: Sequence[str] | None = None,
    output_names: Sequence[str] | None = None,
) -> OnnxExport:
    """Export ``model`` to an in-memory ONNX model (dynamo exporter, onnxscript-optimized, checked)."""
    import torch

    state = quant_state(model)
    if state == "prepared":
        raise ExportError(
            "this model is prepared for quantization but not finalized: call ek.finalize(model) after QAT "
            "(or use ek.quantize for post-training quantization) before exporting"
        )
    inputs = as_tuple(example_inputs)
    model = on_cpu(model)
    with contextlib.suppress(NotImplementedError):  # exported GraphModules may refuse .eval()
        model.eval()
    if isinstance(
        model, torch.fx.GraphModule
    ):  # eval-mode ops are already in the graph; only the flag is left
        for module in model.modules():
            module.training = False
    stage("run PyTorch")
    names, tensors, raw = _run_named(model, inputs)
    reference = [t.detach().cpu().numpy() for t in tensors]
    if output_names is None:
        output_names = names
    if not isinstance(raw, torch.Tensor | tuple | list | dict) or hasattr(raw, "_fields"):
        model = _flat_model(model)  # dataclass, ModelOutput, namedtuple: the file gets a flat tuple
    dynamic = None
    if dynamic_batch:
        batch = torch.export.Dim("batch", min=1, max=1024)
        dynamic = tuple({0: batch} for _ in inputs)
    program = None
    errors = []
    stage("trace + ONNX")
    for shapes in (dynamic, None) if dynamic is not None else (None,):
        chatter = io.StringIO()  # the exporter prints graphs and progress; users get one line, --debug all
        try:
            with contextlib.redirect_stdout(chatter), contextlib.redirect_stderr(chatter):
                program = torch.onnx.export(
                    model,
                    inputs,
                    dynamo=True,
                    opset_version=opset,
                    external_data=False,
                    optimize=True,
                    verbose=False,
                    input_names=list(input_names) if input_names else None,
                    output_names=list(output_names) if output_names else None,
                    dynamic_shapes=shapes,
                )
            break
        except Exception as exc:  # torch.export raises many types; the cause is what users need
            errors.append(exc)
            log.info("export with dynamic_shapes=%s failed: %s", shapes, _cause(exc))
            log.debug("exporter output:\n%s\nfull error:\n%s", chatter.getvalue(), _ANSI.sub("", str(exc)))
    if program is None:
        raise ExportError(untraceable_message(model, errors[-1])) from errors[-1]
    proto = program.model_proto
    if not over_protobuf_limit(proto):  # larger ones are checked from the file (save_onnx)
        check_onnx(proto)
    return OnnxExport(
        model=proto,
        input_names=[
            i.name for i in proto.graph.input if i.name not in {t.name for t in proto.graph.initializer}
        ],
        output_names=[o.name for o in proto.graph.output],
        example_inputs=inputs,
        torch_outputs=reference,
        quantized=state == "finalized",
    )


def add_onnx_metadata(proto: Any, exported: OnnxExport) -> None:
    """Record edgekit's metadata (names, shapes; ONNX keeps NCHW) in ``metadata_props``."""
    meta = ModelMetadata(
        inputs=tuple(
            TensorLayout(n, tuple(t.shape))
            for n, t in zip(exported.input_names, exported.example_inputs, strict=False)
        ),
        outputs=tuple(
            TensorLayout(n, tuple(o.shape))
            for n, o in zip(exported.output_names, exported.torch_outputs, strict=False)
        ),
        quantized=exported.quantized,
        extra={
            "source": "pytorch",
            "opset": next((o.version for o in proto.opset_import if o.domain == ""), None),
        },
    )
    for prop in list(proto.metadata_props):
        if prop.key == METADATA_KEY:
            proto.metadata_props.remove(prop)
    entry = proto.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, meta.to_json()


PROTOBUF_LIMIT = 2**31 - 2**20  # protobuf cannot serialize a message of 2 GiB or more


def over_protobuf_limit(proto: Any) -> bool:
    """Whether ``proto`` is too large for one protobuf message, judged by its initializers' sizes (protobuf's
    own ``ByteSize()`` raises ``EncodeError`` past 2 GiB); 64 MiB is left for the graph itself."""
    from edgekit.converters.onnx_proto import np_dtype

    weights = sum(
        int(np.prod(t.dims, dtype=np.int64)) * np_dtype(t.data_type).itemsize for t in proto.graph.initializer
    )
    return weights >= PROTOBUF_LIMIT - 2**26


def check_onnx(model: Any) -> None:
    """``onnx.checker`` on a ``ModelProto`` or a file path (the only way for a model over 2 GiB)."""
    import onnx

    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as exc:
        raise ExportError(f"the exported ONNX model is invalid: {_cause(exc)}") from exc


def save_onnx(proto: Any, path: Path, data_name: str | None = None) -> None:
    """Serialize ``proto`` to ``path`` as one self-contained file; over 2 GiB the weights go to the side
    file ``data_name`` beside it (default ``<path name>.data``; ``ek.export`` names it after the final file,
    not its temporary one) and the file is checked with ``onnx.checker``."""
    import onnx

    if not over_protobuf_limit(proto):
        path.write_bytes(proto.SerializeToString())
    else:  # protobuf's 2 GB limit
        location = data_name or path.name + ".data"
        (path.parent / location).unlink(missing_ok=True)  # onnx appends to an existing side file
        onnx.save_model(proto, str(path), save_as_external_data=True, location=location)
        check_onnx(str(path))
