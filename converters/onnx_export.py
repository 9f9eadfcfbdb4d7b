"""PyTorch -> ONNX with the dynamo exporter (opset 18), optimized, checked, and verified in ONNX Runtime."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.errors import ExportError
from edgekit.placement import on_cpu
from edgekit.quantization.state import quant_state
from edgekit.runtime.metadata import METADATA_KEY, ModelMetadata, TensorLayout
from edgekit.tensorio import as_example_tuple, to_numpy_list

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


def torch_outputs(model: Any, inputs: Sequence[Any]) -> list[np.ndarray]:
    """``model(*inputs)`` without gradients, as a list of numpy arrays."""
    import torch

    with torch.no_grad():
        return to_numpy_list(model(*inputs))


def _cause(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:1200] + ("…" if len(text) > 1200 else "")


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
    import onnx
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
    reference = torch_outputs(model, inputs)
    if output_names is None:
        output_names = ["output"] if len(reference) == 1 else [f"output_{i}" for i in range(len(reference))]
    dynamic = None
    if dynamic_batch:
        batch = torch.export.Dim("batch", min=1, max=1024)
        dynamic = tuple({0: batch} for _ in inputs)
    program = None
    errors = []
    for shapes in (dynamic, None) if dynamic is not None else (None,):
        try:
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
    if program is None:
        raise ExportError(
            f"torch.export could not trace {type(model).__name__}: {_cause(errors[-1])} — make forward() free of "
            "data-dependent Python control flow and non-tensor outputs, or export a wrapper module"
        ) from errors[-1]
    proto = program.model_proto
    try:
        onnx.checker.check_model(proto)
    except onnx.checker.ValidationError as exc:
        raise ExportError(f"the exported ONNX model is invalid: {_cause(exc)}") from exc
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


def save_onnx(proto: Any, path: Path) -> None:
    """Serialize ``proto`` to ``path`` as one self-contained file (external data only over 2 GB)."""
    import onnx

    size = proto.ByteSize()
    if size < 2**31 - 2**20:
        path.write_bytes(proto.SerializeToString())
    else:  # protobuf's 2 GB limit
        onnx.save_model(proto, str(path), save_as_external_data=True, location=path.name + ".data")
