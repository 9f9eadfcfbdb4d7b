"""Detection models as static graphs: the backbone + head with decoded boxes, without the dynamic parts.

A detector's post-processing (score threshold, per-class NMS, a variable number of boxes per image) cannot
live in a static TFLite graph, and torchvision builds its anchors from the image list at run time.
:func:`detection_head` returns the part that exports: a module whose forward gives

* ``boxes``: ``[batch, anchors, 4]`` corners ``x1, y1, x2, y2`` in input pixels, and
* ``scores``: ``[batch, anchors, classes]`` class probabilities,

as two separate outputs, so that an int8 file gives boxes (hundreds of pixels) and scores (0..1) their own
quantization scales: one tensor holding both, as Ultralytics' export concatenates them, gets one scale
and the scores collapse to a few steps. Anchors are computed once for the example input's size and become
constants. Non-maximum suppression is added to the ``.tflite`` by
``ek.export(..., config=ExportConfig(nms=NMSConfig()))``.

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

__all__ = ["check_static_detector", "detection_head"]

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
        "export the backbone + head instead: ek.export(ek.detection_head(model, x), x, 'det.tflite', "
        "config=ek.ExportConfig(nms=ek.NMSConfig())) (NMS in the graph, boxes/scores/classes out)"
    )
    if kind not in ("SSD", "RetinaNet", "FCOS"):
        fix = (
            "two-stage detectors have no static form in edgekit: use a one-stage detector (SSD, RetinaNet, "
            "FCOS, Ultralytics YOLO) with ek.detection_head"
        )
    raise ExportError(
        f"torchvision {type(model).__name__} cannot be exported as a whole: its {_TORCHVISION_DYNAMIC[kind]} "
        f"are dynamic; {fix}"
    )


def detection_head(model: nn.Module, example_inputs: Any) -> nn.Module:
    """The exportable part of a detector: ``forward(x) -> (boxes [B, N, 4] x1y1x2y2, scores [B, N, C])``.

    Supports torchvision one-stage detectors (SSD / SSDLite, RetinaNet, FCOS) and Ultralytics
    ``DetectionModel`` (YOLOv8, YOLO11, built from yaml or loaded). ``example_inputs`` fixes the input
    size (anchors are computed for it). torchvision's resize step is left out: feed images already at
    that size; its normalisation stays in the graph. The model is not changed.

    >>> import torch                                                    # doctest: +SKIP
    >>> from ultralytics.nn.tasks import DetectionModel                 # doctest: +SKIP
    >>> head = detection_head(DetectionModel("yolov8n.yaml").eval(), torch.rand(1, 3, 320, 320))  # doctest: +SKIP
    """
    (x,) = as_example_tuple(example_inputs)[:1]
    kind = _torchvision_kind(model)
    if kind in ("SSD", "RetinaNet", "FCOS"):
        return _TorchvisionHead(model, x).eval()
    if type(model).__name__ in ("DetectionModel", "YOLODetectionModel") or hasattr(model, "yaml"):
        return _UltralyticsHead(model, x).eval()
    raise ExportError(
        f"detection_head supports torchvision SSD/RetinaNet/FCOS and Ultralytics DetectionModel, got "
        f"{type(model).__name__}; for your own detector return (boxes [1, N, 4], scores [1, N, C]) from "
        "forward and export it with config=ExportConfig(nms=NMSConfig())"
    )


class _TorchvisionHead(nn.Module):
    """Normalise -> backbone -> head -> decode against constant anchors; scores softmax (SSD) or sigmoid."""

    def __init__(self, model: nn.Module, x: torch.Tensor) -> None:
        super().__init__()
        from torchvision.models.detection.image_list import ImageList

        self.detector = model
        transform: Any = model.transform
        self.register_buffer("mean", torch.tensor(transform.image_mean).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(transform.image_std).view(1, -1, 1, 1))
        self.softmax = type(model).__name__ == "SSD" or _torchvision_kind(model) == "SSD"
        with torch.no_grad():
            features = self._features(x)
            images = ImageList(x, [tuple(x.shape[-2:])] * x.shape[0])
            anchors: Any = model.anchor_generator(images, features)  # type: ignore[operator]
        self.register_buffer("anchors", anchors[0].detach().clone())

    def _features(self, x: torch.Tensor) -> list[torch.Tensor]:
        features = self.detector.backbone((x - self.mean) / self.std)  # type: ignore[operator]
        return list(features.values()) if isinstance(features, dict) else [features]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.detector.head(self._features(x))  # type: ignore[operator]
        deltas, logits = out["bbox_regression"], out["cls_logits"]
        boxes = _decode(deltas, self.anchors, self.detector.box_coder.weights)  # type: ignore[union-attr]
        scores = logits.softmax(-1) if self.softmax else logits.sigmoid()
        return boxes, scores


def _decode(deltas: torch.Tensor, anchors: torch.Tensor, weights: Any) -> torch.Tensor:
    """torchvision's ``BoxCoder.decode_single`` on a batch, written with broadcasting only."""
    wx, wy, ww, wh = (float(w) for w in weights)
    sizes = anchors[:, 2:] - anchors[:, :2]
    centers = anchors[:, :2] + 0.5 * sizes
    clip = float(torch.log(torch.tensor(1000.0 / 16)))
    dxy = deltas[..., :2] / torch.tensor([wx, wy])
    dwh = torch.clamp(deltas[..., 2:] / torch.tensor([ww, wh]), max=clip)
    center = dxy * sizes + centers
    half = 0.5 * torch.exp(dwh) * sizes
    return torch.cat([center - half, center + half], dim=-1)


class _UltralyticsHead(nn.Module):
    """Ultralytics' forward up to the Detect head; boxes (DFL decoded, xyxy) and sigmoid scores apart."""

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
            grid = _make_anchor_grid(self._feeds(x), self.detect.stride)
        self.register_buffer("anchor_points", grid[0])
        self.register_buffer("anchor_strides", grid[1])

    def _feeds(self, x: torch.Tensor) -> list[torch.Tensor]:
        saved: list[Any] = []
        save = self.detector.save  # type: ignore[union-attr]
        for m in self.detector.model[:-1]:  # type: ignore[index, union-attr]
            if m.f != -1:
                x = saved[m.f] if isinstance(m.f, int) else [x if j == -1 else saved[j] for j in m.f]
            x = m(x)
            saved.append(x if m.i in save else None)
        f = self.detect.f
        return [x if j == -1 else saved[j] for j in f]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        preds = self.detect.forward_head(self._feeds(x), **self.detect.one2many)
        distances = self.detect.dfl(preds["boxes"]).transpose(1, 2)  # [B, N, 4]: left, top, right, bottom
        lt, rb = distances[..., :2], distances[..., 2:]
        boxes = torch.cat([self.anchor_points - lt, self.anchor_points + rb], dim=-1) * self.anchor_strides
        return boxes, preds["scores"].sigmoid().transpose(1, 2)


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
