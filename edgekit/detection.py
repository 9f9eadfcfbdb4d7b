"""Detection models as static graphs: the backbone + head, without the dynamic parts.

A detector's post-processing (score threshold, per-class NMS, a variable number of boxes per image) cannot
live in a static TFLite graph, and torchvision builds its anchors from the image list at run time.
:func:`detection_head` returns the part that exports: a module whose forward gives

* ``box_regression``: ``[batch, anchors, K]`` in the head's own encoding (YOLO: 4 x 16 distribution
  logits; SSD/RetinaNet: 4 BoxCoder deltas), and
* ``scores``: ``[batch, anchors, classes]`` class probabilities,

as two outputs. An int8 file thus gives box regression and scores (0..1) their own quantization scales
(one tensor holding decoded boxes in pixels and scores, as Ultralytics' export concatenates them, gets
one scale and the scores collapse to a few steps), and the boxes are decoded in float inside the file
after the int8 part, with NMS: ``ek.export(head, x, path, config=ExportConfig(nms=head.nms_config()))``.
Anchors are computed once for the example input's size and become constants of the file.

>>> import torch, torchvision, edgekit as ek                                  # doctest: +SKIP
>>> ssd = torchvision.models.detection.ssdlite320_mobilenet_v3_large(weights=None, weights_backbone=None)
>>> x = torch.rand(1, 3, 320, 320)                                              # doctest: +SKIP
>>> head = ek.detection_head(ssd.eval(), x)                                     # doctest: +SKIP
>>> [t.shape for t in head(x)]                                                  # doctest: +SKIP
[torch.Size([1, 3234, 4]), torch.Size([1, 3234, 91])]
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from edgekit.errors import ExportError
from edgekit.tensorio import as_example_tuple

__all__ = ["DetectionHead", "check_static_detector", "detection_head"]

#: torchvision detector classes and the parts of their forward that cannot be a static graph.
_TORCHVISION_DYNAMIC = {
    "SSD": "anchor_generator (anchors built from the image list at run time) and postprocess_detections "
    "(score threshold + batched NMS: a different number of boxes per image)",
    "RetinaNet": "anchor_generator and postprocess_detections (score threshold + batched NMS)",
    "FCOS": "anchor_generator and postprocess_detections (score threshold + batched NMS)",
    "FasterRCNN": "rpn (proposals: top-k + NMS per image) and roi_heads (variable-size box sets)",
    "MaskRCNN": "rpn (proposals: top-k + NMS per image) and roi_heads (variable-size box sets)",
    "KeypointRCNN": "rpn (proposals: top-k + NMS per image) and roi_heads (variable-size box sets)",
}


def _torchvision_kind(model: nn.Module) -> str | None:
    if not type(model).__module__.startswith("torchvision.models.detection"):
        return None
    for cls in type(model).__mro__:
        if cls.__name__ in _TORCHVISION_DYNAMIC:
            return cls.__name__
    return None


def check_static_detector(model: Any) -> None:
    """Raise :class:`~edgekit.errors.ExportError` for a whole torchvision detector, naming the parts that
    cannot export and what to export instead.

    >>> check_static_detector(torch.nn.Linear(2, 2))  # anything else passes
    """
    kind = _torchvision_kind(model) if isinstance(model, nn.Module) else None
    if kind is None:
        return
    fix = (
        "export the backbone + head instead: head = ek.detection_head(model, x); ek.export(head, x, "
        "'det.tflite', config=ek.ExportConfig(nms=head.nms_config())) (box decoding and NMS in the graph, "
        "boxes/scores/classes out)"
    )
    if kind not in ("SSD", "RetinaNet"):
        fix = (
            "edgekit has no static form for it yet: use a one-stage detector (SSD/SSDLite, RetinaNet, "
            "Ultralytics YOLO) with ek.detection_head"
        )
    raise ExportError(
        f"torchvision {type(model).__name__} cannot be exported as a whole: its {_TORCHVISION_DYNAMIC[kind]} "
        f"are dynamic; {fix}"
    )


def detection_head(model: nn.Module, example_inputs: Any) -> DetectionHead:
    """The exportable part of a detector: ``forward(x) -> (box_regression [B, N, K], scores [B, N, C])``.

    Supports torchvision SSD / SSDLite and RetinaNet (``x`` normalised as the detector's transform does,
    at the size of ``example_inputs``; K=4 BoxCoder deltas) and Ultralytics ``DetectionModel`` (YOLOv8,
    YOLO11; ``x`` in 0..1; K=64 distribution-focal logits). Boxes stay in the head's raw encoding, so an
    int8 file quantizes the regression and the scores apart, each with its own scale, and decodes the
    boxes in float with NMS: ``ExportConfig(nms=head.nms_config())``. Anchors are computed once for the
    example input's size. The model is not changed.

    >>> import torch                                                    # doctest: +SKIP
    >>> from ultralytics.nn.tasks import DetectionModel                 # doctest: +SKIP
    >>> head = detection_head(DetectionModel("yolov8n.yaml").eval(), torch.rand(1, 3, 320, 320))  # doctest: +SKIP
    >>> ek.export(head, x, "yolo.tflite", config=ek.ExportConfig(nms=head.nms_config()))          # doctest: +SKIP
    """
    (x,) = as_example_tuple(example_inputs)[:1]
    kind = _torchvision_kind(model)
    if kind in ("SSD", "RetinaNet"):
        return _TorchvisionHead(model, x).eval()
    if hasattr(model, "yaml") and hasattr(model, "model") and hasattr(model.model[-1], "forward_head"):  # type: ignore[index]
        return _UltralyticsHead(model, x).eval()
    raise ExportError(
        f"detection_head supports torchvision SSD/SSDLite/RetinaNet and Ultralytics DetectionModel (YOLOv8/11), "
        f"got {type(model).__name__}; for your own detector return (boxes [1, N, 4], scores [1, N, C]) from "
        "forward and export it with config=ExportConfig(nms=NMSConfig())"
    )


class DetectionHead(nn.Module):
    """A detector's backbone + head returning raw box regression and scores; :meth:`nms_config` gives the
    NMS settings (box encoding and anchors) that decode them inside the exported file."""

    box_format = "xyxy"
    background_class: int | None = None
    delta_weights: tuple[float, float, float, float] = (10.0, 10.0, 5.0, 5.0)
    anchors: torch.Tensor

    def nms_config(self, **settings: Any) -> Any:
        """``NMSConfig`` for this head (``settings``: thresholds, ``max_detections``...)."""
        from edgekit.converters.tflite.nms import NMSConfig

        defaults: dict[str, Any] = {
            "box_format": self.box_format,
            "anchors": tuple(tuple(row) for row in self.anchors.tolist()),
            "delta_weights": self.delta_weights,
            "background_class": self.background_class,
        }
        return NMSConfig(**{**defaults, **settings})


class _TorchvisionHead(DetectionHead):
    """Backbone -> head; deltas against constant anchors, scores softmax (SSD, class 0 background) or
    sigmoid (RetinaNet)."""

    box_format = "ssd_deltas"

    def __init__(self, model: nn.Module, x: torch.Tensor) -> None:
        super().__init__()
        from torchvision.models.detection.image_list import ImageList

        self.detector = model
        self.softmax = _torchvision_kind(model) == "SSD"
        self.background_class = 0 if self.softmax else None
        self.delta_weights = tuple(float(w) for w in model.box_coder.weights)  # type: ignore[union-attr, assignment]
        with torch.no_grad():
            features = self._features(x)
            images = ImageList(x, [tuple(x.shape[-2:])] * x.shape[0])
            anchors: Any = model.anchor_generator(images, features)  # type: ignore[operator]
        self.register_buffer("anchors", anchors[0].detach().clone())

    def _features(self, x: torch.Tensor) -> list[torch.Tensor]:
        features = self.detector.backbone(x)  # type: ignore[operator]
        return list(features.values()) if isinstance(features, dict) else [features]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.detector.head(self._features(x))  # type: ignore[operator]
        logits = out["cls_logits"]
        return out["bbox_regression"], logits.softmax(-1) if self.softmax else logits.sigmoid()


class _UltralyticsHead(DetectionHead):
    """Ultralytics' forward up to the Detect head; raw DFL box logits and sigmoid scores apart."""

    box_format = "dfl"

    def __init__(self, model: nn.Module, x: torch.Tensor) -> None:
        super().__init__()
        self.detector = model
        layers: Any = model.model
        self.detect = layers[-1]
        if getattr(self.detect, "end2end", False):
            raise ExportError(
                "end-to-end Ultralytics heads (YOLOv10/YOLO26: NMS-free one2one branch) are not supported by "
                "detection_head yet; use a YOLOv8/YOLO11 model"
            )
        with torch.no_grad():
            points, strides = _make_anchor_grid(self._feeds(x), self.detect.stride)
        self.register_buffer("anchors", torch.cat([points * strides, strides, strides], 1))

    def _feeds(self, image: torch.Tensor) -> list[torch.Tensor]:
        """Ultralytics' layer loop (``BaseModel._predict_once``) up to the Detect head's inputs."""
        saved: list[Any] = []
        save: Any = self.detector.save
        layers: Any = self.detector.model
        x: Any = image
        for m in layers[:-1]:
            if m.f != -1:
                x = saved[m.f] if isinstance(m.f, int) else [x if j == -1 else saved[j] for j in m.f]
            x = m(x)
            saved.append(x if m.i in save else None)
        return [x if j == -1 else saved[j] for j in self.detect.f]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        preds = self.detect.forward_head(self._feeds(x), **self.detect.one2many)
        return preds["boxes"].transpose(1, 2), preds["scores"].sigmoid().transpose(1, 2)


def _make_anchor_grid(feats: list[torch.Tensor], strides: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Cell centres ``[N, 2]`` (in cells) and each cell's stride ``[N, 1]``, level by level (Ultralytics'
    anchor order: row-major per feature map, offset 0.5)."""
    points, stride_rows = [], []
    for feat, stride in zip(feats, strides.tolist(), strict=True):
        h, w = feat.shape[-2:]
        sy, sx = torch.meshgrid(torch.arange(h) + 0.5, torch.arange(w) + 0.5, indexing="ij")
        points.append(torch.stack((sx, sy), -1).view(-1, 2))
        stride_rows.append(torch.full((h * w, 1), float(stride)))
    return torch.cat(points), torch.cat(stride_rows)
