"""ONNX model -> TFLite flatbuffer, by one of two writers sharing the op handlers and the layout pass:

* ``writer="direct"`` (default): the handlers emit TFLite builtins into an in-memory model that is
  serialized with ``flatbuffers`` (``direct/``); no TensorFlow;
* ``writer="tf"``: the handlers build a TF function and TFLite's MLIR converter writes the file (needs the
  ``tf`` extra); also the only path for TFLite's own calibration (``calibrate``).

Three modes, chosen by the input:
* float ONNX -> float TFLite;
* QDQ ONNX -> full-integer int8 TFLite whose scales/zero points are the ONNX ones (fake-quant carry-over,
  no representative dataset);
* float ONNX + calibration batches -> full-integer int8 via TFLite's representative dataset.

``weights="float16"`` / ``"dynamic_int8"`` (direct writer only) write a float ONNX model with float16
weights (+ DEQUANTIZE) or int8 weights read by TFLite's hybrid kernels (``direct/weight_types.py``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.converters.tflite.builder import GraphTranslator, IOSpec, tf_name
from edgekit.converters.tflite.fuse_gelu import fuse_gelu
from edgekit.converters.tflite.metadata import add_metadata
from edgekit.converters.tflite.tf_import import tensorflow
from edgekit.errors import ConversionError
from edgekit.runtime.metadata import ModelMetadata, TensorLayout

log = logging.getLogger(__name__)

QDQ_OPS = frozenset({"QuantizeLinear", "DequantizeLinear"})
WRITERS = ("direct", "tf")


@dataclass
class TFLiteConversion:
    """The flatbuffer and what was learnt while converting. ``tail``: the ``(file offset, bytes)`` buffers
    written after the flatbuffer when the constants are over 2 GiB (then ``flatbuffer`` is the tables only)."""

    flatbuffer: bytes
    quantized: bool
    inputs: list[IOSpec]
    outputs: list[IOSpec]
    notes: list[str] = field(default_factory=list)
    tail: tuple[tuple[int, np.ndarray], ...] = ()

    def write_to(self, path: Path) -> None:
        """Write the ``.tflite`` file, streaming any buffers that follow the flatbuffer."""
        from edgekit.converters.tflite.direct.serialize import Serialized

        Serialized(self.flatbuffer, self.tail).write_to(path)


def is_qdq(model: Any) -> bool:
    return any(node.op_type in QDQ_OPS for node in model.graph.node)


def _layout(spec: IOSpec) -> TensorLayout:
    perm = spec.to_file_perm
    return TensorLayout(
        name=spec.name,
        source_shape=tuple(spec.onnx_shape),
        source_layout="NCHW" if perm else None,
        file_layout="NHWC" if perm else None,
        to_file_perm=tuple(perm) if perm else None,
    )


def _representative(calibrate: Iterable[Any], inputs: list[IOSpec]) -> Any:
    def gen() -> Any:
        count = 0
        for batch in calibrate:
            arrays = batch if isinstance(batch, list | tuple) else [batch]
            arrays = [np.asarray(getattr(a, "numpy", lambda a=a: a)(), dtype=np.float32) for a in arrays]
            if len(arrays) != len(inputs):
                raise ConversionError(
                    f"calibration batches must hold {len(inputs)} input(s), got {len(arrays)}"
                )
            for i in range(arrays[0].shape[0]):
                sample = []
                for spec, a in zip(inputs, arrays, strict=True):
                    x = a[i : i + 1]
                    if tuple(x.shape) != tuple(spec.onnx_shape):
                        raise ConversionError(
                            f"calibration input {spec.name!r} has shape {x.shape[1:]} per sample; the model takes "
                            f"{tuple(spec.onnx_shape[1:])} (NCHW)"
                        )
                    sample.append(x.transpose(spec.to_file_perm) if spec.to_file_perm else x)
                count += 1
                yield sample
        if count == 0:
            raise ConversionError("calibration data is empty: give at least one batch of inputs")

    return gen


def onnx_to_tflite(
    model: Any,
    *,
    calibrate: Iterable[Any] | None = None,
    input_shapes: dict[str, tuple[int, ...]] | None = None,
    extra_metadata: dict[str, Any] | None = None,
    writer: str = "direct",
    weights: str | None = None,
) -> TFLiteConversion:
    """Convert an in-memory ``onnx.ModelProto`` to TFLite bytes (see module docstring for the modes)."""
    if writer not in WRITERS:
        raise ConversionError(f"writer must be one of {', '.join(WRITERS)}; got {writer!r}")
    if weights is not None and (writer != "direct" or calibrate is not None or is_qdq(model)):
        raise ConversionError(
            f"{weights} weights are written by the direct writer from a float model: use writer='direct', "
            "no TFLite calibration, and a model that ek.quantize did not calibrate"
        )
    model, gelus = fuse_gelu(model)
    if gelus:
        log.info("fused %d exact-GELU subgraphs into GELU", gelus)
    if writer == "direct" and calibrate is None:
        return _direct(model, input_shapes, extra_metadata, weights)
    return _with_tf(model, calibrate, input_shapes, extra_metadata)


def _direct(
    model: Any,
    input_shapes: dict[str, tuple[int, ...]] | None,
    extra_metadata: dict[str, Any] | None,
    weights: str | None = None,
) -> TFLiteConversion:
    from edgekit.converters.tflite.direct.convert import build_graph, write
    from edgekit.runtime.metadata import METADATA_KEY

    built = build_graph(model, input_shapes, weights=weights)
    translator = built.translator
    quantized = is_qdq(model) or weights is not None
    metadata = ModelMetadata(
        inputs=tuple(_layout(s) for s in translator.inputs),
        outputs=tuple(_layout(s) for s in translator.outputs),
        quantized=quantized,
        extra={"source": "onnx", "opset": translator.opset, "writer": "direct", **(extra_metadata or {})},
    )
    serialized = write(built, {METADATA_KEY: metadata.to_json().encode("utf-8")})
    return TFLiteConversion(
        flatbuffer=serialized.head,
        quantized=quantized,
        inputs=translator.inputs,
        outputs=translator.outputs,
        notes=translator.notes,
        tail=serialized.tail,
    )


def _with_tf(
    model: Any,
    calibrate: Iterable[Any] | None,
    input_shapes: dict[str, tuple[int, ...]] | None,
    extra_metadata: dict[str, Any] | None,
) -> TFLiteConversion:
    tf = tensorflow()
    translator = GraphTranslator(model, input_shapes)
    holder = tf.Module()
    holder.graph = translator.function(tf)
    holder.weights = list(translator.weights.variables)  # saved with the function, frozen by the converter
    quantized = is_qdq(model)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([holder.graph], trackable_obj=holder)
    if quantized or calibrate is not None:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
        if not quantized and calibrate is not None:  # (calibrate is set whenever the model is not QDQ here)
            converter.representative_dataset = _representative(calibrate, translator.inputs)
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    try:
        flatbuffer = converter.convert()
    except ConversionError:
        raise
    except Exception as exc:
        raise ConversionError(f"the TFLite converter failed: {' '.join(str(exc).split())[:2000]}") from exc
    metadata = ModelMetadata(
        inputs=tuple(_layout(s) for s in translator.inputs),
        outputs=tuple(_layout(s) for s in translator.outputs),
        quantized=quantized or calibrate is not None,
        extra={"source": "onnx", "opset": translator.opset, "writer": "tf", **(extra_metadata or {})},
    )
    return TFLiteConversion(
        flatbuffer=add_metadata(
            flatbuffer,
            metadata,
            signature_names={
                **{tf_name(s.name): s.name for s in translator.inputs},
                **{f"output_{i}": s.name for i, s in enumerate(translator.outputs)},
            },
        ),
        quantized=metadata.quantized,
        inputs=translator.inputs,
        outputs=translator.outputs,
        notes=translator.notes,
    )
