"""Recognise, validate and read metadata from model files before any native runtime touches them."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from edgekit.errors import ModelFileError
from edgekit.runtime import tflite_flatbuffer
from edgekit.runtime.metadata import METADATA_KEY, ModelMetadata

log = logging.getLogger(__name__)

SUFFIXES = {".tflite": "tflite", ".onnx": "onnx"}


def _sniff(head: bytes) -> str | None:
    if len(head) >= 8 and head[4:8] == tflite_flatbuffer.FILE_IDENTIFIER:
        return "tflite"
    # ONNX ModelProto is protobuf: it starts with field 1 (ir_version, varint: tag 0x08)
    # and carries opset_import (tag 0x42) / graph (tag 0x3a) soon after.
    if head[:1] == b"\x08" and (b"\x3a" in head[:64] or b"\x42" in head[:64] or b"\x12" in head[:4]):
        return "onnx"
    return None


def model_format(path: str | os.PathLike[str]) -> str:
    """``"tflite"`` or ``"onnx"``; raise ModelFileError for a missing, empty, or mislabelled file."""
    p = Path(path)
    if not p.exists():
        raise ModelFileError(f"model file not found: {p}")
    if p.is_dir():
        raise ModelFileError(f"{p} is a folder; give the path of a .tflite or .onnx file")
    suffix_format = SUFFIXES.get(p.suffix.lower())
    if suffix_format is None:
        raise ModelFileError(f"{p}: unknown model suffix {p.suffix!r}; expected one of {sorted(SUFFIXES)}")
    with p.open("rb") as fh:
        head = fh.read(64)
    if not head:
        raise ModelFileError(f"{p} is empty; re-export the model")
    sniffed = _sniff(head)
    if sniffed is not None and sniffed != suffix_format:
        raise ModelFileError(
            f"{p} is named {p.suffix} but its content is a {sniffed} model; rename it to {p.with_suffix('.' + sniffed).name}"
        )
    if suffix_format == "tflite" and sniffed is None:
        raise ModelFileError(f"{p} is not a TFLite model (no 'TFL3' identifier); is it the file you meant?")
    return suffix_format


def validate(path: str | os.PathLike[str]) -> str:
    """Check that ``path`` is a sound model file (format, structure, not truncated); return its format."""
    fmt = model_format(path)
    if fmt == "tflite":
        try:
            tflite_flatbuffer.validate(Path(path).read_bytes())
        except tflite_flatbuffer.FlatbufferError as exc:
            raise ModelFileError(f"{path} is not a valid TFLite model: {exc}") from exc
    return fmt


def read_metadata(path: str | os.PathLike[str]) -> ModelMetadata | None:
    """edgekit's layout/name metadata from a .tflite or .onnx file, or None when the file has none."""
    fmt = model_format(path)
    raw: bytes | str | None = None
    if fmt == "tflite":
        try:
            raw = tflite_flatbuffer.read_metadata(Path(path).read_bytes()).get(METADATA_KEY)
        except tflite_flatbuffer.FlatbufferError as exc:
            raise ModelFileError(f"{path} is not a valid TFLite model: {exc}") from exc
    else:
        raw = _onnx_metadata(Path(path)).get(METADATA_KEY)
    if raw is None:
        return None
    try:
        return ModelMetadata.from_json(raw)
    except (ValueError, KeyError, TypeError) as exc:
        log.warning("ignoring malformed edgekit metadata in %s: %s", path, exc)
        return None


def _onnx_metadata(path: Path) -> dict[str, str]:
    try:
        import onnxruntime as ort
    except ImportError:
        return {}
    options = ort.SessionOptions()
    options.log_severity_level = 3
    try:
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # ORT raises its own exception types for invalid protobuf
        raise ModelFileError(f"{path} is not a valid ONNX model: {exc}") from exc
    return dict(session.get_modelmeta().custom_metadata_map)
