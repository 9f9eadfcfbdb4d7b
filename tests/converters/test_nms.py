"""NMS in the .tflite graph (ExportConfig(nms=NMSConfig())) against torchvision.ops.nms on the same scores."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torchvision

import edgekit as ek
from edgekit.converters.tflite.nms import decode_boxes
from edgekit.errors import ExportError, InputSpecError
from edgekit.runtime import Model


def grid_anchors() -> tuple[tuple[float, float, float, float], ...]:
    """An 8x8 grid of 8x8-pixel anchors (x1, y1, x2, y2) on a 32x32 image: neighbours overlap."""
    return tuple((4 * i - 2.0, 4 * j - 2.0, 4 * i + 6.0, 4 * j + 6.0) for j in range(8) for i in range(8))


class GridDetector(torch.nn.Module):
    """Detector-shaped (like ek.detection_head): box deltas [1, 64, 4] against grid_anchors() and scores
    [1, 64, classes] as two outputs; ``centre_size`` gives decoded cx, cy, w, h boxes instead."""

    def __init__(self, classes: int = 3, centre_size: bool = False) -> None:
        super().__init__()
        self.features = torch.nn.Sequential(
            torch.nn.Conv2d(3, 8, 3, 2, 1), torch.nn.ReLU(), torch.nn.Conv2d(8, 8, 3, 2, 1), torch.nn.ReLU()
        )
        self.box = torch.nn.Conv2d(8, 4, 1)
        self.cls = torch.nn.Conv2d(8, classes, 1)
        self.centre_size = centre_size
        ys, xs = torch.meshgrid(torch.arange(8) + 0.5, torch.arange(8) + 0.5, indexing="ij")
        self.register_buffer("centres", torch.stack((xs, ys), -1).view(1, 64, 2) * 4)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.features(x)
        raw = self.box(f).flatten(2).transpose(1, 2)
        if self.centre_size:
            raw = torch.cat(
                [self.centres + 4 * torch.tanh(raw[..., :2]), 3 + 6 * torch.sigmoid(raw[..., 2:])], -1
            )
        return raw, torch.sigmoid(2 * self.cls(f).flatten(2).transpose(1, 2))


def deltas_config(**settings: Any) -> ek.NMSConfig:
    return ek.NMSConfig(
        box_format="ssd_deltas", anchors=grid_anchors(), delta_weights=(2.0, 2.0, 2.0, 2.0), **settings
    )


def reference_nms(
    raw: np.ndarray, scores: np.ndarray, config: ek.NMSConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Boxes decoded in numpy, then torchvision.ops.nms, class-agnostic on each anchor's best class (what the
    graph does): kept indices, their classes, and all decoded boxes."""
    boxes = decode_boxes(raw, config)
    b, s = torch.from_numpy(boxes), torch.from_numpy(scores.reshape(boxes.shape[0], -1).copy())
    if config.background_class is not None:
        s[:, config.background_class] = 0
    best, label = s.max(1)
    candidates = torch.nonzero(best > config.score_threshold).flatten()
    kept = candidates[torchvision.ops.nms(b[candidates], best[candidates], config.iou_threshold)][
        : config.max_detections
    ]
    return kept.numpy(), label[kept].numpy(), boxes


def greedy_nms(boxes: np.ndarray, best: np.ndarray, config: ek.NMSConfig) -> np.ndarray:
    """Plain greedy NMS (torchvision's box_iou), equal scores taken lowest index first."""
    order = [i for i in np.lexsort((np.arange(best.size), -best)) if best[i] > config.score_threshold]
    kept: list[int] = []
    for i in order:
        ious = (
            torchvision.ops.box_iou(torch.from_numpy(boxes[[i]]), torch.from_numpy(boxes[kept]))
            if kept
            else None
        )
        if ious is None or float(ious.max()) <= config.iou_threshold:
            kept.append(int(i))
    return np.asarray(kept[: config.max_detections], dtype=np.int64)


def images(n: int = 4) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return [torch.rand(1, 3, 32, 32, generator=g) for _ in range(n)]


def test_nms_in_graph_matches_torchvision_fp32(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = GridDetector().eval()
    config = deltas_config(iou_threshold=0.3, score_threshold=0.4, max_detections=20)
    result = ek.export(model, images()[0], tmp_path / "det.tflite", config=ek.ExportConfig(nms=config))
    assert result.ops["NON_MAX_SUPPRESSION_V5"] == 1
    loaded = Model.load(result.path)
    assert [o.name for o in loaded.outputs] == ["boxes", "scores", "classes", "count"]
    total = 0
    for x in images():
        raw, scores = (t.detach().numpy() for t in model(x))
        kept, labels, boxes = reference_nms(raw, scores, config)
        found = loaded.detect(x.numpy())
        assert len(found) == len(kept) > 1
        np.testing.assert_allclose(found.boxes, boxes[kept], atol=1e-4)
        np.testing.assert_allclose(found.scores, scores[0, kept].max(1), atol=1e-5)
        np.testing.assert_array_equal(found.classes, labels)
        total += len(found)
    assert total > 8  # the test sees real suppression decisions, not one box per image


def test_int8_nms_equals_torchvision_on_the_files_own_head(tmp_path: Path) -> None:
    """Int8: NMS runs in float after DEQUANTIZE; it keeps exactly what torchvision keeps on the int8 head."""
    torch.manual_seed(0)
    model = GridDetector(classes=4).eval()
    quantized = ek.quantize(model, images()[0], calibrate=images(8)).model
    config = deltas_config(iou_threshold=0.4, score_threshold=0.3, max_detections=64)  # no cut inside a tie
    head = Model.load(ek.export(quantized, images()[0], tmp_path / "head.tflite").path)
    det = ek.export(quantized, images()[0], tmp_path / "det.tflite", config=ek.ExportConfig(nms=config))
    assert det.quantized and det.ops["DEQUANTIZE"] == 2  # the two head outputs, nothing else in float
    loaded = Model.load(det.path)
    for x in images():
        raw, scores = head.run(x.numpy())
        boxes, scores = decode_boxes(raw, config), scores.reshape(64, -1)
        kept = greedy_nms(boxes, scores.max(1), config)
        found = loaded.detect(x.numpy())
        assert len(found) == len(kept) > 1
        # TFLite orders equal scores its own way: the same set of boxes, each with its class
        ours, theirs = np.lexsort(found.boxes.T), np.lexsort(boxes[kept].T)
        np.testing.assert_allclose(found.boxes[ours], boxes[kept][theirs], atol=1e-4)
        np.testing.assert_array_equal(found.classes[ours], scores.argmax(1)[kept][theirs])
        np.testing.assert_allclose(np.sort(found.scores), np.sort(scores.max(1)[kept]), atol=1e-6)


def test_centre_size_boxes_and_background_class(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = GridDetector(classes=3, centre_size=True).eval()
    config = ek.NMSConfig(iou_threshold=0.3, score_threshold=0.2, box_format="cxcywh", background_class=0)
    loaded = Model.load(
        ek.export(model, images()[0], tmp_path / "d.tflite", config=ek.ExportConfig(nms=config)).path
    )
    x = images()[1]
    raw, scores = (t.detach().numpy() for t in model(x))
    corners = np.concatenate([raw[..., :2] - raw[..., 2:] / 2, raw[..., :2] + raw[..., 2:] / 2], -1)
    kept, labels, boxes = reference_nms(raw, scores, config)
    np.testing.assert_allclose(boxes, corners[0], atol=1e-5)
    found = loaded.detect(x.numpy())
    assert len(found) == len(kept) > 1 and 0 not in found.classes
    np.testing.assert_allclose(found.boxes, boxes[kept], atol=1e-4)
    np.testing.assert_array_equal(found.classes, labels)


def test_int8_dict_of_mixed_outputs_exports(tmp_path: Path) -> None:
    """A detector returning a dict with a tuple of differently shaped tensors quantizes and exports."""

    class DictDetector(GridDetector):
        def forward(self, x: torch.Tensor) -> dict:  # type: ignore[override]
            boxes, scores = super().forward(x)
            return {"boxes": boxes, "extra": (scores, scores.amax(-1))}

    torch.manual_seed(0)
    model = DictDetector().eval()
    quantized = ek.quantize(model, images()[0], calibrate=images(8)).model
    result = ek.export(quantized, images()[0], tmp_path / "d.tflite")
    assert result.quantized and result.parity is not None
    outputs = Model.load(result.path).run(images()[0].numpy(), as_dict=True)
    assert {k: v.shape for k, v in outputs.items()} == {
        "boxes": (1, 64, 4),
        "extra.0": (1, 64, 3),
        "extra.1": (1, 64),
    }


def test_bad_nms_settings_fail_before_writing(tmp_path: Path) -> None:
    model, x = GridDetector().eval(), images()[0]
    with pytest.raises(ExportError, match=r"\.tflite"):
        ek.export(model, x, tmp_path / "d.onnx", config=ek.ExportConfig(nms=ek.NMSConfig()))
    with pytest.raises(ExportError, match="different outputs"):
        ek.NMSConfig(boxes_output=1, scores_output=1)
    with pytest.raises(ExportError, match="iou_threshold"):
        ek.NMSConfig(iou_threshold=0)
    with pytest.raises(ExportError, match=r"\[1, N, 4\]"):
        ek.export(
            model,
            x,
            tmp_path / "d.tflite",
            config=ek.ExportConfig(nms=ek.NMSConfig(boxes_output=1, scores_output=0)),
        )
    assert not (tmp_path / "d.tflite").exists()
    with pytest.raises(InputSpecError, match="no NMS"):
        Model.load(ek.export(model, x, tmp_path / "raw.tflite").path).detect(x.numpy())


def test_nms_config_round_trips_inside_export_config() -> None:
    config = ek.ExportConfig(nms=ek.NMSConfig(max_detections=7, box_format="cxcywh"))
    data = config.to_dict()
    assert data["nms"]["box_format"] == "cxcywh"
    assert ek.ExportConfig.from_dict(data) == config


def test_int8_returned_scores_are_a_float_sigmoid_of_int8_logits(tmp_path: Path) -> None:
    """The scores a detector returns run their sigmoid in float on the int8 logits, in PyTorch's int8 model
    and in the file: int8 scores (TFLite's fixed 1/256 scale) tie the top classes of anchors whose best
    scores sit near 1, as a trained detector's do (a third of yolo11n's anchors)."""
    torch.manual_seed(0)
    model = GridDetector(classes=8).eval()
    model.cls.weight.data *= 6  # spread, high logits: most anchors' best score above 0.99
    model.cls.bias.data += 3
    quantized = ek.quantize(model, images()[0], calibrate=images(8)).model
    result = ek.export(quantized, images()[0], tmp_path / "head.tflite", config=ek.ExportConfig(verify=False))
    loaded = Model.load(result.path)
    assert loaded.outputs[1].file_dtype == np.float32 and loaded.outputs[0].file_dtype == np.int8
    assert [n for n in result.notes if "runs in float" in n] == []  # said as a choice, not an island
    assert any("LOGISTIC) computes a returned value in float" in n for n in result.notes), result.notes
    tied = tied_at_1_256 = 0  # anchors whose two best scores are equal: in the file / at int8's scale
    for x in images():
        scores = loaded.run(x.numpy())[1].reshape(64, -1)
        with torch.no_grad():
            reference = quantized(x)[1].numpy().reshape(64, -1)
        np.testing.assert_allclose(scores, reference, atol=2e-4)  # a logit one int8 step apart
        top = np.sort(scores, 1)
        assert (top[:, -1] > 0.99).mean() > 0.5
        tied += int((top[:, -1] == top[:, -2]).sum())  # equal int8 logits only
        steps = np.round(top * 256)
        tied_at_1_256 += int((steps[:, -1] == steps[:, -2]).sum())
    assert tied * 10 < tied_at_1_256, (tied, tied_at_1_256)
