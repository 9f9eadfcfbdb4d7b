"""Append non-maximum suppression to a detection ``.tflite``: boxes, scores, classes and a count come out.

The file's two head outputs (``boxes [1, N, 4]`` and ``scores [1, N, C]``, or transposed ``[1, 4, N]`` /
``[1, C, N]``) are followed by TFLite builtins only::

    DEQUANTIZE (int8 files) -> RESHAPE [N, 4] / [N, C] -> (FULLY_CONNECTED: cx,cy,w,h -> corners)
    -> (MUL: background class masked) -> REDUCE_MAX + ARG_MAX over classes
    -> NON_MAX_SUPPRESSION_V5 -> GATHER boxes and classes

NMS is class-agnostic on each anchor's best class (what YOLO/SSD exports on phones do). Outputs are
padded to ``max_detections``; ``count`` says how many rows are real (``edgekit.runtime.Model.detect``
trims them). Choice of op (measured with ai-edge-litert 2.3.0): the builtin ``NON_MAX_SUPPRESSION_V5``
runs with and without XNNPACK (XNNPACK leaves it, and the float tail, to the builtin kernels), and
needs no anchors or custom-op registration, unlike ``TFLite_Detection_PostProcess`` whose box decoding
is tied to SSD's anchor encoding. The file works on the head's float boxes, so int8 files keep box and
score scales apart up to the head and NMS runs in float.

>>> NMSConfig(iou_threshold=0.5).max_detections
100
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import Enum
from typing import Any

import numpy as np

from edgekit.config import VerbConfig, coerce_enum
from edgekit.errors import ExportError
from edgekit.runtime.metadata import METADATA_KEY, ModelMetadata, TensorLayout

__all__ = ["DETECTION_OUTPUTS", "BoxFormat", "NMSConfig", "append_nms", "decode_boxes"]

#: Names of the outputs of a file with NMS, in order.
DETECTION_OUTPUTS = ("boxes", "scores", "classes", "count")


class BoxFormat(str, Enum):
    """How the model's box output is written: decoded corners ``x1, y1, x2, y2`` or centre and size
    ``cx, cy, w, h``; or raw, decoded in float inside the file against ``NMSConfig.anchors``:
    ``DFL`` (Ultralytics YOLOv8/11: 4 x ``dfl_bins`` distance logits, anchors ``(x, y, stride, stride)``)
    and ``SSD_DELTAS`` (torchvision BoxCoder deltas, anchors ``x1, y1, x2, y2``, ``delta_weights``)."""

    XYXY = "xyxy"
    CXCYWH = "cxcywh"
    DFL = "dfl"
    SSD_DELTAS = "ssd_deltas"


#: torchvision's BoxCoder clamp of dw, dh before exp.
_SSD_CLIP = float(np.log(1000.0 / 16))


@dataclass(frozen=True)
class NMSConfig(VerbConfig):
    """Non-maximum suppression added at the end of an exported ``.tflite``
    (``ExportConfig(nms=NMSConfig(...))``): which outputs are boxes and scores, their format, thresholds,
    the padded number of detections, and an optional ``background_class`` never reported (SSD's 0).
    For raw box outputs (``DFL``, ``SSD_DELTAS``) ``anchors`` holds one row per box; ``ek.detection_head``'s
    ``nms_config()`` fills them in.

    >>> NMSConfig(box_format="cxcywh").box_format
    <BoxFormat.CXCYWH: 'cxcywh'>
    """

    iou_threshold: float = 0.45
    score_threshold: float = 0.25
    max_detections: int = 100
    box_format: BoxFormat = BoxFormat.XYXY
    boxes_output: int = 0
    scores_output: int = 1
    background_class: int | None = None
    anchors: tuple[tuple[float, float, float, float], ...] = ()
    delta_weights: tuple[float, float, float, float] = (10.0, 10.0, 5.0, 5.0)
    dfl_bins: int = 16

    def __post_init__(self) -> None:
        coerce_enum(self, "box_format", BoxFormat, ExportError)
        if not 0.0 < float(self.iou_threshold) <= 1.0:
            raise ExportError(f"iou_threshold must be in (0, 1], got {self.iou_threshold!r}")
        if not 0.0 <= float(self.score_threshold) < 1.0:
            raise ExportError(f"score_threshold must be in [0, 1), got {self.score_threshold!r}")
        if not isinstance(self.max_detections, int) or self.max_detections < 1:
            raise ExportError(f"max_detections must be a positive integer, got {self.max_detections!r}")
        if self.boxes_output == self.scores_output:
            raise ExportError(
                f"boxes_output and scores_output must name two different outputs, both are {self.boxes_output}"
            )
        object.__setattr__(self, "anchors", tuple(tuple(float(v) for v in row) for row in self.anchors))
        raw = self.box_format in (BoxFormat.DFL, BoxFormat.SSD_DELTAS)
        if raw and (not self.anchors or any(len(row) != 4 for row in self.anchors)):
            raise ExportError(
                f"box_format {self.box_format.value!r} decodes against anchors: give anchors (one row of 4 per "
                "box), e.g. NMSConfig from ek.detection_head(model, x).nms_config()"
            )

    @property
    def box_width(self) -> int:
        """Values per box in the model's box output."""
        return 4 * self.dfl_bins if self.box_format is BoxFormat.DFL else 4


def decode_boxes(raw: np.ndarray, config: NMSConfig) -> np.ndarray:
    """The boxes ``[N, 4]`` x1, y1, x2, y2 that the file computes from a box output ``[1, N, width]``
    (numpy reference of the in-graph decoding).

    >>> decode_boxes(np.array([[[1.0, 2.0, 2.0, 2.0]]]), NMSConfig(box_format="cxcywh")).tolist()
    [[0.0, 1.0, 2.0, 3.0]]
    """
    rows = np.asarray(raw, dtype=np.float32).reshape(-1, config.box_width)
    anchors = np.asarray(config.anchors, dtype=np.float32).reshape(-1, 4)
    if config.box_format is BoxFormat.XYXY:
        return rows
    if config.box_format is BoxFormat.CXCYWH:
        return np.concatenate([rows[:, :2] - rows[:, 2:] / 2, rows[:, :2] + rows[:, 2:] / 2], 1)
    if config.box_format is BoxFormat.DFL:
        logits = rows.reshape(-1, 4, config.dfl_bins)
        p = np.exp(logits - logits.max(-1, keepdims=True))
        distance = (p / p.sum(-1, keepdims=True)) @ np.arange(config.dfl_bins, dtype=np.float32)
        return _dfl_offset(anchors) + distance * _dfl_scale(anchors)
    deltas = rows / np.asarray(config.delta_weights, dtype=np.float32)
    size = anchors[:, 2:] - anchors[:, :2]
    centre = deltas[:, :2] * size + anchors[:, :2] + 0.5 * size
    half = 0.5 * np.exp(np.minimum(deltas[:, 2:], _SSD_CLIP)) * size
    return np.concatenate([centre - half, centre + half], 1)


def _dfl_offset(anchors: np.ndarray) -> np.ndarray:
    return np.concatenate([anchors[:, :2], anchors[:, :2]], 1).astype(np.float32)


def _dfl_scale(anchors: np.ndarray) -> np.ndarray:
    return (anchors[:, 2:3] * np.array([[-1, -1, 1, 1]], dtype=np.float32)).astype(np.float32)


class _Graph:
    """Adds tensors, constants and builtin operators to subgraph 0 of a ``ModelT``."""

    def __init__(self, s: Any, model: Any) -> None:
        self.s, self.model, self.sub = s, model, model.subgraphs[0]
        self.codes: dict[int, int] = {}

    def tensor(self, shape: tuple[int, ...], ttype: str, name: str, data: np.ndarray | None = None) -> int:
        t = self.s.TensorT()
        t.shape = np.asarray(shape, dtype=np.int32)
        t.type = int(getattr(self.s.TensorType, ttype))
        t.name = f"nms/{name}"
        t.buffer = 0
        if data is not None:
            buffer = self.s.BufferT()
            buffer.data = np.ascontiguousarray(data).view(np.uint8).reshape(-1)
            self.model.buffers.append(buffer)
            t.buffer = len(self.model.buffers) - 1
        self.sub.tensors.append(t)
        return len(self.sub.tensors) - 1

    def const(self, value: Any, dtype: Any, name: str) -> int:
        data = np.asarray(value, dtype=dtype)
        ttype = {np.dtype(np.float32): "FLOAT32", np.dtype(np.int32): "INT32"}[data.dtype]
        return self.tensor(data.shape, ttype, name, data)

    def op(
        self, code: str, inputs: list[int], outputs: list[int], options: str | None = None, **fields: Any
    ) -> None:
        builtin = int(getattr(self.s.BuiltinOperator, code))
        if builtin not in self.codes:
            existing = [i for i, c in enumerate(self.model.operatorCodes) if c.builtinCode == builtin]
            if existing:
                self.codes[builtin] = existing[0]
            else:
                oc = self.s.OperatorCodeT()
                oc.builtinCode = builtin
                oc.deprecatedBuiltinCode = min(builtin, 127)
                oc.version = 1
                self.model.operatorCodes.append(oc)
                self.codes[builtin] = len(self.model.operatorCodes) - 1
        o = self.s.OperatorT()
        o.opcodeIndex = self.codes[builtin]
        o.inputs = np.asarray(inputs, dtype=np.int32)
        o.outputs = np.asarray(outputs, dtype=np.int32)
        if options is not None:
            table = getattr(self.s, f"{options}T")()
            for key, value in fields.items():
                setattr(table, key, value)
            o.builtinOptionsType = int(getattr(self.s.BuiltinOptions, options))
            o.builtinOptions = table
        self.sub.operators.append(o)

    def op1(
        self,
        code: str,
        inputs: list[int],
        shape: tuple[int, ...],
        name: str,
        options: str | None = None,
        **fields: Any,
    ) -> int:
        """One float operator with one new output of ``shape``; returns the output's index."""
        out = self.tensor(shape, "FLOAT32", name)
        self.op(code, inputs, [out], options, **fields)
        return out

    def shape(self, index: int) -> tuple[int, ...]:
        return tuple(int(d) for d in self.sub.tensors[index].shape)

    def as_float(self, index: int, name: str) -> int:
        t = self.sub.tensors[index]
        if t.type == self.s.TensorType.FLOAT32:
            return index
        out = self.tensor(self.shape(index), "FLOAT32", f"{name}_float")
        self.op("DEQUANTIZE", [index], [out])
        return out

    def rows(self, index: int, n: int, name: str) -> int:
        """``[1, N, K]`` or ``[1, K, N]`` (or ``[1, N]``) as ``[N, K]`` float."""
        shape = self.shape(index)
        x = self.as_float(index, name)
        if len(shape) == 2:
            shape = (*shape, 1)
        k = shape[2] if shape[1] == n else shape[1]
        if shape[1] != n:
            moved = self.tensor((1, shape[2], shape[1]), "FLOAT32", f"{name}_nk")
            self.op("TRANSPOSE", [x, self.const([0, 2, 1], np.int32, f"{name}_perm")], [moved])
            x = moved
        out = self.tensor((n, k), "FLOAT32", f"{name}_rows")
        self.op(
            "RESHAPE",
            [x, self.const([n, k], np.int32, f"{name}_shape")],
            [out],
            "ReshapeOptions",
            newShape=[n, k],
        )
        return out


def _anchors(boxes: tuple[int, ...], scores: tuple[int, ...], config: NMSConfig) -> int:
    width = config.box_width
    if len(boxes) != 3 or boxes[0] != 1 or width not in boxes[1:]:
        raise ExportError(
            f"the boxes output has shape {list(boxes)}; NMS in the graph with box_format "
            f"{config.box_format.value!r} needs [1, N, {width}] (or [1, {width}, N]) at batch 1: return boxes and "
            "scores as two outputs (ek.detection_head does) and export with batch 1"
        )
    n = boxes[1] if boxes[2] == width else boxes[2]
    if len(scores) not in (2, 3) or scores[0] != 1 or n not in scores[1:]:
        raise ExportError(
            f"the scores output has shape {list(scores)}; with {n} boxes NMS needs scores [1, {n}, classes] "
            f"(or [1, classes, {n}]); check NMSConfig(boxes_output=, scores_output=)"
        )
    if config.anchors and len(config.anchors) != n:
        raise ExportError(
            f"NMSConfig has {len(config.anchors)} anchors but the model gives {n} boxes: build the config for "
            "this input size (detection_head(model, x).nms_config())"
        )
    return n


def _decode(g: _Graph, rows: int, n: int, config: NMSConfig) -> int:
    """The ops turning ``[N, width]`` float box rows into ``[N, 4]`` corners (see :func:`decode_boxes`)."""
    f32 = np.float32
    anchors = np.asarray(config.anchors, dtype=f32).reshape(-1, 4)
    if config.box_format is BoxFormat.XYXY:
        return rows
    if config.box_format is BoxFormat.CXCYWH:
        to_corners = np.array([[1, 0, -0.5, 0], [0, 1, 0, -0.5], [1, 0, 0.5, 0], [0, 1, 0, 0.5]], f32)
        return g.op1(
            "FULLY_CONNECTED",
            [rows, g.const(to_corners, f32, "to_corners"), -1],
            (n, 4),
            "corners",
            "FullyConnectedOptions",
        )
    if config.box_format is BoxFormat.DFL:
        bins = config.dfl_bins
        flat = g.op1(
            "RESHAPE",
            [rows, g.const([n * 4, bins], np.int32, "dfl_shape")],
            (n * 4, bins),
            "dfl_bins",
            "ReshapeOptions",
            newShape=[n * 4, bins],
        )
        p = g.op1("SOFTMAX", [flat], (n * 4, bins), "dfl_softmax", "SoftmaxOptions", beta=1.0)
        expect = g.op1(
            "FULLY_CONNECTED",
            [p, g.const(np.arange(bins, dtype=f32)[None], f32, "dfl_bins_w"), -1],
            (n * 4, 1),
            "dfl_expectation",
            "FullyConnectedOptions",
        )
        dist = g.op1(
            "RESHAPE",
            [expect, g.const([n, 4], np.int32, "dist_shape")],
            (n, 4),
            "distances",
            "ReshapeOptions",
            newShape=[n, 4],
        )
        scaled = g.op1(
            "MUL", [dist, g.const(_dfl_scale(anchors), f32, "strides")], (n, 4), "scaled", "MulOptions"
        )
        return g.op1(
            "ADD", [scaled, g.const(_dfl_offset(anchors), f32, "points")], (n, 4), "corners", "AddOptions"
        )
    deltas = g.op1(
        "MUL",
        [rows, g.const(1.0 / np.asarray(config.delta_weights, f32), f32, "inv_weights")],
        (n, 4),
        "deltas",
        "MulOptions",
    )
    size = anchors[:, 2:] - anchors[:, :2]
    centre_a = anchors[:, :2] + 0.5 * size
    dxy = g.op1(
        "SLICE",
        [deltas, g.const([0, 0], np.int32, "xy_begin"), g.const([n, 2], np.int32, "xy_size")],
        (n, 2),
        "dxy",
    )
    dwh = g.op1(
        "SLICE",
        [deltas, g.const([0, 2], np.int32, "wh_begin"), g.const([n, 2], np.int32, "wh_size")],
        (n, 2),
        "dwh",
    )
    moved = g.op1("MUL", [dxy, g.const(size, f32, "anchor_size")], (n, 2), "moved", "MulOptions")
    centre = g.op1("ADD", [moved, g.const(centre_a, f32, "anchor_centre")], (n, 2), "centre", "AddOptions")
    clipped = g.op1("MINIMUM", [dwh, g.const(_SSD_CLIP, f32, "wh_clip")], (n, 2), "dwh_clipped")
    grown = g.op1("EXP", [clipped], (n, 2), "grown")
    half = g.op1("MUL", [grown, g.const(0.5 * size, f32, "anchor_half")], (n, 2), "half", "MulOptions")
    low = g.op1("SUB", [centre, half], (n, 2), "low", "SubOptions")
    high = g.op1("ADD", [centre, half], (n, 2), "high", "AddOptions")
    return g.op1("CONCATENATION", [low, high], (n, 4), "corners", "ConcatenationOptions", axis=1)


def _metadata(model: Any) -> tuple[Any, ModelMetadata | None]:
    for entry in model.metadata or []:
        if (entry.name or b"").decode() == METADATA_KEY:
            buffer = model.buffers[entry.buffer]
            return buffer, ModelMetadata.from_json(bytes(np.asarray(buffer.data, dtype=np.uint8)))
    return None, None


def append_nms(tflite: bytes, config: NMSConfig) -> bytes:
    """``tflite`` with NMS after its box/score outputs (see the module docstring); the outputs become
    :data:`DETECTION_OUTPUTS` and edgekit's metadata records them under ``extra["detection"]``."""
    import flatbuffers

    from edgekit.converters.tflite.direct.serialize import schema

    s = schema()
    model = s.ModelT.InitFromPackedBuf(bytearray(tflite), 0)
    if len(model.subgraphs) != 1:
        raise ExportError("NMS in the graph supports single-subgraph files only")
    g = _Graph(s, model)
    outputs = [int(i) for i in g.sub.outputs]
    for which in ("boxes_output", "scores_output"):
        if not 0 <= getattr(config, which) < len(outputs):
            raise ExportError(
                f"NMSConfig.{which}={getattr(config, which)} but the model has {len(outputs)} outputs"
            )
    boxes_in, scores_in = outputs[config.boxes_output], outputs[config.scores_output]
    n = _anchors(g.shape(boxes_in), g.shape(scores_in), config)
    boxes = _decode(g, g.rows(boxes_in, n, "boxes"), n, config)
    scores = g.rows(scores_in, n, "scores")
    classes_n = g.shape(scores)[1]
    if config.background_class is not None:
        if not 0 <= config.background_class < classes_n:
            raise ExportError(
                f"background_class={config.background_class} but scores have {classes_n} classes"
            )
        mask = np.ones(classes_n, np.float32)
        mask[config.background_class] = 0.0
        masked = g.tensor((n, classes_n), "FLOAT32", "scores_foreground")
        g.op("MUL", [scores, g.const(mask, np.float32, "foreground")], [masked], "MulOptions")
        scores = masked
    axis = g.const([1], np.int32, "class_axis")
    best = g.tensor((n,), "FLOAT32", "best_score")
    g.op("REDUCE_MAX", [scores, axis], [best], "ReducerOptions", keepDims=False)
    label = g.tensor((n,), "INT32", "best_class")
    g.op("ARG_MAX", [scores, axis], [label], "ArgMaxOptions", outputType=s.TensorType.INT32)
    k = config.max_detections
    selected = g.tensor((k,), "INT32", "selected")
    kept_scores = g.tensor((k,), "FLOAT32", "scores")
    count = g.tensor((), "INT32", "count")
    g.op(
        "NON_MAX_SUPPRESSION_V5",
        [
            boxes,
            best,
            g.const(k, np.int32, "max_detections"),
            g.const(config.iou_threshold, np.float32, "iou_threshold"),
            g.const(config.score_threshold, np.float32, "score_threshold"),
            g.const(0.0, np.float32, "soft_nms_sigma"),
        ],
        [selected, kept_scores, count],
        "NonMaxSuppressionV5Options",
    )
    kept_boxes = g.tensor((k, 4), "FLOAT32", "boxes")
    g.op("GATHER", [boxes, selected], [kept_boxes], "GatherOptions", axis=0)
    kept_classes = g.tensor((k,), "INT32", "classes")
    g.op("GATHER", [label, selected], [kept_classes], "GatherOptions", axis=0)
    new_outputs = [kept_boxes, kept_scores, kept_classes, count]
    g.sub.outputs = np.asarray(new_outputs, dtype=np.int32)
    for sig in model.signatureDefs or []:
        entries = []
        for name, index in zip(DETECTION_OUTPUTS, new_outputs, strict=True):
            m = s.TensorMapT()
            m.name, m.tensorIndex = name, index
            entries.append(m)
        sig.outputs = entries
    buffer, meta = _metadata(model)
    if buffer is not None and meta is not None:
        shapes = ((k, 4), (k,), (k,), ())
        detection = {
            "box_format": "xyxy",
            "max_detections": k,
            "classes": classes_n,
            "iou_threshold": config.iou_threshold,
            "score_threshold": config.score_threshold,
        }
        meta = dataclasses.replace(
            meta,
            outputs=tuple(
                TensorLayout(name, shape) for name, shape in zip(DETECTION_OUTPUTS, shapes, strict=True)
            ),
            extra={**meta.extra, "detection": detection},
        )
        buffer.data = np.frombuffer(meta.to_json().encode("utf-8"), dtype=np.uint8)
    builder = flatbuffers.Builder(max(1024, len(tflite) + 65536))
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())
