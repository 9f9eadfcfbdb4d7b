"""Write edgekit's metadata (see ``edgekit.runtime.metadata``) into a TFLite flatbuffer, and name the
signature's tensors after the ONNX graph's inputs and outputs."""

from __future__ import annotations

import numpy as np

from edgekit.runtime.metadata import METADATA_KEY, ModelMetadata


def add_metadata(
    tflite: bytes,
    metadata: ModelMetadata,
    *,
    key: str = METADATA_KEY,
    signature_names: dict[str, str] | None = None,
) -> bytes:
    """Return ``tflite`` with a ``Model.metadata`` entry ``key`` holding ``metadata`` as UTF-8 JSON.

    An existing entry of the same name is replaced. ``signature_names`` renames signature entries (TensorFlow's
    converter writes ``output_0``, ``output_1``... and cleaned-up input names; the ONNX names replace them).
    """
    import flatbuffers

    from edgekit.converters.tflite.direct.serialize import schema as bindings

    schema = bindings()

    model = schema.ModelT.InitFromPackedBuf(bytearray(tflite), 0)
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(metadata.to_json().encode("utf-8"), dtype=np.uint8)
    model.buffers.append(buffer)
    entry = schema.MetadataT()
    entry.name = key
    entry.buffer = len(model.buffers) - 1
    model.metadata = [m for m in (model.metadata or []) if (m.name or b"").decode() != key] + [entry]
    renames = signature_names or {}
    for signature in model.signatureDefs or [] if renames else []:
        for entry in [*(signature.inputs or []), *(signature.outputs or [])]:
            name = entry.name.decode() if isinstance(entry.name, bytes) else entry.name
            entry.name = renames.get(name, name)
    builder = flatbuffers.Builder(max(1024, len(tflite) + 4096))
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())
