"""ek.detection_head: detectors' static part (backbone + head, raw boxes and scores, constant anchors)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision

import edgekit as ek
from edgekit.converters.tflite.nms import decode_boxes
from edgekit.errors import ExportError
from edgekit.runtime import Model


def ssdlite() -> torch.nn.Module:
    return torchvision.models.detection.ssdlite320_mobilenet_v3_large(
        weights=None, weights_backbone=None
    ).eval()


def test_whole_torchvision_detector_fails_naming_the_dynamic_parts(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match=r"anchor_generator.*postprocess_detections.*detection_head"):
        ek.export(ssdlite(), torch.rand(1, 3, 320, 320), tmp_path / "ssd.tflite")
    assert not (tmp_path / "ssd.tflite").exists()


def test_unsupported_model_says_what_to_return() -> None:
    with pytest.raises(ExportError, match=r"boxes \[1, N, 4\], scores \[1, N, C\]"):
        ek.detection_head(torch.nn.Conv2d(3, 3, 1), torch.rand(1, 3, 8, 8))


def test_ssdlite_head_decodes_like_torchvision() -> None:
    torch.manual_seed(0)
    model = ssdlite()
    images, _ = model.transform([torch.rand(3, 320, 320)])
    x = images.tensors
    head = ek.detection_head(model, x)
    config = head.nms_config()
    assert config.background_class == 0 and config.box_format is ek.BoxFormat.SSD_DELTAS
    with torch.no_grad():
        raw, scores = head(x)
        features = list(model.backbone(x).values())
        deltas = model.head(features)["bbox_regression"]
        expected = model.box_coder.decode_single(deltas[0], model.anchor_generator(images, features)[0])
    assert raw.shape == (1, 3234, 4) and scores.shape == (1, 3234, 91)
    np.testing.assert_allclose(decode_boxes(raw.numpy(), config), expected.numpy(), atol=1e-4)
    np.testing.assert_allclose(scores.sum(-1).numpy(), 1.0, atol=1e-5)


def photos(size: int) -> list[torch.Tensor]:
    """scikit-image's sample photos, [1, 3, size, size] in 0..1."""
    data = pytest.importorskip("skimage.data")
    out = []
    for name in ("astronaut", "coffee", "chelsea", "rocket", "camera", "coins"):
        a = torch.from_numpy(np.asarray(getattr(data, name)(), dtype=np.float32) / 255)
        a = a[..., None].expand(*a.shape, 3) if a.ndim == 2 else a[..., :3]
        out.append(
            torch.nn.functional.interpolate(a.permute(2, 0, 1)[None], size=(size, size), mode="bilinear")
        )
    return out


def trained_like(
    head: torch.nn.Module, cls_layers: list[torch.nn.Conv2d], images: list[torch.Tensor]
) -> None:
    """Random init made to behave like a trained detector: BatchNorm statistics of the images, class logits
    with a spread of ~2 and no prior bias (else every score sits within one int8 step of 0)."""
    for m in head.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            m.momentum = None
    head.train()
    with torch.no_grad():
        for x in images:
            head(x)
        head.eval()
        for conv in cls_layers:
            conv.bias.zero_()
        scores = torch.cat([head(x)[1] for x in images]).clamp(1e-6, 1 - 1e-6)
        factor = 2.0 / float((scores / (1 - scores)).log().std())
        for conv in cls_layers:
            conv.weight.mul_(factor)


@pytest.mark.slow
def test_yolov8n_int8_with_nms_keeps_the_fp32_boxes(tmp_path: Path) -> None:
    """YOLOv8n (yaml, random init made trained-like), int8 PTQ on photos: raw-head parity, decoded boxes."""
    tasks = pytest.importorskip("ultralytics.nn.tasks")
    torch.manual_seed(0)
    model = tasks.DetectionModel("yolov8n.yaml", verbose=False).eval()
    images = photos(160)
    head = ek.detection_head(model, images[0])
    trained_like(head, [m[-1] for m in head.detect.one2many["cls_head"]], images)
    with torch.no_grad():
        y = model(images[0])[0]
        raw, _ = head(images[0])
    xywh = y[0, :4].T.numpy()
    corners = np.concatenate([xywh[:, :2] - xywh[:, 2:] / 2, xywh[:, :2] + xywh[:, 2:] / 2], 1)
    config = head.nms_config(score_threshold=0.0, max_detections=50)
    np.testing.assert_allclose(decode_boxes(raw.numpy(), config), corners, atol=1e-3)

    quantized = ek.quantize(head, images[0], calibrate=images).model
    fp32 = Model.load(ek.export(head, images[0], tmp_path / "f.tflite").path)
    int8 = ek.export(quantized, images[0], tmp_path / "q.tflite")
    assert int8.quantized and int8.parity is not None
    loaded = Model.load(int8.path)
    for x in images[:3]:
        (rf, sf), (rq, sq) = fp32.run(x.numpy()), loaded.run(x.numpy())
        assert sq.shape == sf.shape
        bf, bq = decode_boxes(rf, config), decode_boxes(rq, config)
        top = np.argsort(-sf.reshape(bf.shape[0], -1).max(1))[:100]
        iou = torchvision.ops.box_iou(torch.from_numpy(bf[top]), torch.from_numpy(bq[top])).diagonal()
        assert float(iou.mean()) > 0.7  # measured 0.80 on yolov8n at 320 (benchmarks/detection.py)
    det = ek.export(quantized, images[0], tmp_path / "q_nms.tflite", config=ek.ExportConfig(nms=config))
    found = Model.load(det.path).detect(images[0].numpy())
    assert len(found) == 50 and det.ops["NON_MAX_SUPPRESSION_V5"] == 1
