"""Detection end to end: YOLOv8n / YOLO11n (Ultralytics yaml, random init) and torchvision SSDLite320,
fp32, int8 and 16x8 (ek.quantize PTQ, ``QuantScheme.INT8`` / ``INT16X8``) .tflite with NMS in the graph.

Nothing is downloaded: models are random-init with BatchNorm statistics re-estimated on the images and
the class layers scaled to a trained detector's logit spread (``spread_scores``);
inputs are real photos (scikit-image / scikit-learn samples) resized to the model size. Per model and
precision: file size, LiteRT 1-thread latency (interleaved), op count and QUANTIZE/DEQUANTIZE count; the
rows give the raw-head parity (fp32 file vs PyTorch; int8 file vs the fp32 file) on the same photos: box
IoU of the decoded boxes on the reference's top-100 anchors, class agreement there and on the confident
anchors only (reference score > 0.5: near-tied random-init logits left out), score cosine; int8 / 16x8
rows add the NMS outputs matched to fp32's (mean IoU of the best match, class agreement of matched boxes). ``concat`` rows quantize the head the way Ultralytics'
export lays it out (boxes and scores in one tensor, so one int8 scale) to show what splitting buys.

    nice -n 10 .venv/bin/python benchmarks/detection.py [--models yolov8n,yolo11n,ssdlite] [--size 320]

Needs the ``bench`` extra (ultralytics, scikit-image). Writes benchmarks/results/detection.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import RESULTS, interleaved, table, write

MODELS = ("yolov8n", "yolo11n", "ssdlite")
TOP = 100
#: Reference score above which an anchor counts as a confident detection (class agreement column).
CONFIDENT = 0.5
#: The quantized precisions, each from ``ek.quantize`` with that scheme.
SCHEMES = {"int8": "int8", "16x8": "int16x8"}
#: Columns of the printed table, one row per model and precision.
COLUMNS = [
    "model",
    "precision",
    "KiB",
    "LiteRT ms (1 thr)",
    "ops",
    "Q/DQ",
    "head box IoU",
    "head class agree",
    "agree, score>0.5",
    "score cos",
    "NMS IoU",
    "NMS class agree",
]


def photos(size: int) -> list[np.ndarray]:
    """The offline sample photos as float32 NCHW [1, 3, size, size] in 0..1 (gray ones as 3 channels)."""
    import skimage.data
    import torch
    from sklearn.datasets import load_sample_images

    names = ("astronaut", "coffee", "chelsea", "rocket", "camera", "coins", "immunohistochemistry", "cat")
    images = [getattr(skimage.data, n)() for n in names]
    images += list(load_sample_images().images)
    out = []
    for image in images:
        a = np.asarray(image, dtype=np.float32) / 255.0
        if a.ndim == 2:
            a = np.stack([a] * 3, -1)
        t = torch.from_numpy(a[..., :3].copy()).permute(2, 0, 1)[None]
        out.append(
            torch.nn.functional.interpolate(t, size=(size, size), mode="bilinear", antialias=True).numpy()
        )
    return out


def build(name: str, size: int) -> Any:
    """Model name -> ``detection_head`` module (random init, BatchNorm re-estimated on the photos)."""
    import torch

    import edgekit as ek

    torch.manual_seed(0)
    x = torch.rand(1, 3, size, size)
    if name == "ssdlite":
        import torchvision

        model = torchvision.models.detection.ssdlite320_mobilenet_v3_large(
            weights=None, weights_backbone=None
        )
    else:
        from ultralytics.nn.tasks import DetectionModel

        model = DetectionModel(f"{name}.yaml", verbose=False)
    head = ek.detection_head(model.eval(), x)
    images = inputs(name, model, size)
    reestimate_bn(head, images)
    spread_scores(name, head, images)
    return head, images


def spread_scores(name: str, head: Any, images: list[np.ndarray], std: float = 2.0) -> None:
    """Give the random class layers a trained detector's spread of logits (std ``std`` over anchors and
    classes, no prior bias). Random init leaves every score within a few int8 steps of the sigmoid /
    softmax's fixed output scale 1/256 (YOLO's prior bias gives ~1e-4, SSDLite's 0.03-std init a
    near-uniform 1/91), so parity would compare rounding noise; trained models spread their logits."""
    import torch

    if name == "ssdlite":
        layers = [m[-1] for m in head.detector.head.classification_head.module_list]
    else:
        layers = [m[-1] for m in head.detect.one2many["cls_head"]]
    for conv in layers:
        conv.bias.data.zero_()
    with torch.no_grad():
        scores = torch.cat([head(torch.from_numpy(a))[1] for a in images[:4]]).clamp(1e-7, 1 - 1e-7)
    logits = scores.log() if name == "ssdlite" else (scores / (1 - scores)).log()
    factor = std / float(logits.std())
    for conv in layers:
        conv.weight.data *= factor


def inputs(name: str, model: Any, size: int) -> list[np.ndarray]:
    """The photos as the head takes them: 0..1 for YOLO, normalised like torchvision's transform for SSD."""
    images = photos(size)
    if name != "ssdlite":
        return images
    mean = np.asarray(model.transform.image_mean, np.float32).reshape(1, 3, 1, 1)
    std = np.asarray(model.transform.image_std, np.float32).reshape(1, 3, 1, 1)
    return [(a - mean) / std for a in images]


def reestimate_bn(model: Any, images: list[np.ndarray]) -> None:
    import torch

    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            m.momentum = None
    model.train()
    with torch.no_grad():  # one batch of all photos: SSDLite's last BatchNorms see 1x1 maps
        model(torch.from_numpy(np.concatenate(images)))
    model.eval()


class Concat:
    """The head with box regression and scores in one output (one int8 scale for both), as Ultralytics'
    export lays out its (decoded) boxes and scores."""

    @staticmethod
    def wrap(head: Any) -> Any:
        import torch

        class _Concat(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.head = head

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                boxes, scores = self.head(x)
                return torch.cat([boxes, scores], -1)

        return _Concat().eval()


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise IoU of two [n, 4] xyxy arrays."""
    lt = np.maximum(a[:, :2], b[:, :2])
    rb = np.minimum(a[:, 2:], b[:, 2:])
    inter = np.clip(rb - lt, 0, None).prod(1)
    area = lambda z: np.clip(z[:, 2:] - z[:, :2], 0, None).prod(1)  # noqa: E731
    return inter / np.maximum(area(a) + area(b) - inter, 1e-9)


def head_parity(ref: list[Any], got: list[Any], config: Any) -> dict[str, float]:
    """Boxes decoded (numpy, as the file does) from raw head outputs: IoU and class agreement on each image's
    fp32 top-``TOP`` anchors; score cosine overall (minimum over images)."""
    from edgekit.converters.tflite.nms import decode_boxes

    ious, agree, cos, confident = [], [], [], []
    for (rb, rs), (gb, gs) in zip(ref, got, strict=True):
        rb, gb = decode_boxes(rb, config), decode_boxes(gb, config)
        rs, gs = rs.reshape(rb.shape[0], -1), gs.reshape(rb.shape[0], -1)
        top = np.argsort(-rs.max(1))[:TOP]
        ious.append(iou(rb[top], gb[top]).mean())
        agree.append((rs[top].argmax(1) == gs[top].argmax(1)).mean())
        sure = rs.max(1) > CONFIDENT
        confident += list(rs[sure].argmax(1) == gs[sure].argmax(1))
        cos.append(float(np.dot(rs.ravel(), gs.ravel()) / (np.linalg.norm(rs) * np.linalg.norm(gs) + 1e-12)))
    return {
        "box_iou": float(np.mean(ious)),
        "class_agree": float(np.mean(agree)),
        "class_agree_confident": float(np.mean(confident)) if confident else float("nan"),
        "confident_anchors": len(confident),
        "score_cosine": float(np.min(cos)),
    }


def nms_parity(ref: list[Any], got: list[Any]) -> dict[str, float]:
    """Each fp32 detection matched to the int8 detection of highest IoU: mean IoU, matched class agreement."""
    ious, agree, counts = [], [], []
    for r, g in zip(ref, got, strict=True):
        counts.append((len(r), len(g)))
        if len(r) == 0:
            continue
        if len(g) == 0:
            ious += [0.0] * len(r)
            agree += [0.0] * len(r)
            continue
        for box, cls in zip(r.boxes, r.classes, strict=True):
            m = iou(np.repeat(box[None], len(g), 0), g.boxes)
            j = int(m.argmax())
            ious.append(float(m[j]))
            agree.append(float(g.classes[j] == cls))
    return {
        "nms_iou": float(np.mean(ious)) if ious else float("nan"),
        "nms_class_agree": float(np.mean(agree)) if agree else float("nan"),
        "detections": float(np.mean([c[0] for c in counts])),
        "detections_int8": float(np.mean([c[1] for c in counts])),
    }


def run_file(path: Path, images: list[np.ndarray], nms: bool) -> list[Any]:
    from edgekit.runtime import Model

    m = Model.load(path, threads=1)
    if nms:
        return [m.detect(x) for x in images]
    return [m.run(x) for x in images]


def save(args: argparse.Namespace, results: list[dict[str, Any]]) -> Path:
    previous: list[dict[str, Any]] = []
    if args.append and (RESULTS / "detection.json").exists():  # keep the rows of models not run now
        previous = json.loads((RESULTS / "detection.json").read_text())["rows"]
        previous = [r for r in previous if r["model"] not in args.models.split(",")]
    return write(
        "detection", {"size": args.size, "photos": 10, "top_anchors": TOP, "rows": previous + results}
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--size", type=int, default=320)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--append", action="store_true", help="keep other models' rows of the last JSON")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    import torch

    import edgekit as ek
    from edgekit.converters.tflite.nms import append_nms
    from edgekit.runtime import Model
    from edgekit.runtime.cpuinfo import cpu_info

    torch.set_num_threads(1)
    print(f"CPU: {cpu_info()}  ({len(photos(args.size))} photos at {args.size}x{args.size})")
    rows, results = [], []
    tmp = Path(tempfile.mkdtemp(prefix="ek-detection-"))
    for name in args.models.split(","):
        head, images = build(name, args.size)
        x = torch.from_numpy(images[0])
        # score_threshold 0: random-init scores are low; the top TOP boxes after NMS are compared
        nms = head.nms_config(score_threshold=0.0, max_detections=TOP)
        calib = [torch.from_numpy(a) for a in images]
        models = {"fp32": head}
        for label, scheme in SCHEMES.items():
            config = ek.QuantConfig(scheme=ek.QuantScheme(scheme))
            models[label] = ek.quantize(head, x, config=config, calibrate=calib).model
        files = {}
        for label, model in models.items():
            try:
                raw = ek.export(model, x, tmp / f"{name}_{label}.tflite")
            except Exception as exc:  # recorded in the table: the benchmark goes on with the next model
                error = " ".join(str(exc).split())[:300]
                print(f"{name} {label}: export failed: {error}", flush=True)
                results.append({"model": name, "precision": label, "error": error})
                rows.append([name, label, "export failed", *[""] * (len(COLUMNS) - 3)])
                continue  # the other precisions still get their rows
            # what ek.export(..., config=ExportConfig(nms=nms)) writes, without exporting twice
            nms_path = tmp / f"{name}_{label}_nms.tflite"
            nms_path.write_bytes(append_nms(raw.path.read_bytes(), nms))
            det = dataclasses.replace(
                raw,
                path=nms_path,
                size_bytes=nms_path.stat().st_size,
                ops=Model.load(nms_path).op_histogram(),
            )
            files[label] = (raw, det)
        if "fp32" not in files or "int8" not in files:
            continue
        concat_q = ek.quantize(Concat.wrap(head), x, calibrate=calib).model
        concat_file = ek.export(
            concat_q, x, tmp / f"{name}_int8_concat.tflite", config=ek.ExportConfig(verify=False)
        )
        runners = {label: Model.load(files[label][1].path, threads=1) for label in files}
        feed = {label: (lambda m=m, first=images[0]: m.run(first)) for label, m in runners.items()}
        latency = interleaved(feed, rounds=args.rounds, calls=5, warmup=2)
        with torch.no_grad():
            ref_torch = [tuple(t.numpy() for t in head(torch.from_numpy(a))) for a in images]
        ref_raw = run_file(files["fp32"][0].path, images, False)
        ref_det = run_file(files["fp32"][1].path, images, True)
        for label in (*files, "int8 concat"):
            if label == "int8 concat":
                outs = run_file(concat_file.path, images, False)
                width = nms.box_width
                got = [(o[..., :width], o[..., width:]) for o in outs]
                parity = head_parity(ref_raw, got, nms)
                file, ops, det_ms = concat_file, concat_file.ops, float("nan")
            else:
                raw, det = files[label]
                if label == "fp32":  # the fp32 file against PyTorch
                    parity = head_parity(ref_torch, run_file(raw.path, images, False), nms)
                else:  # int8 / 16x8 against the fp32 file
                    parity = head_parity(ref_raw, run_file(raw.path, images, False), nms)
                    parity |= nms_parity(ref_det, run_file(det.path, images, True))
                file, ops, det_ms = det, det.ops, latency[label] * 1e3
            qdq = ops.get("QUANTIZE", 0) + ops.get("DEQUANTIZE", 0)
            row = {
                "model": name,
                "precision": label,
                "size_kb": file.size_bytes / 1024,
                "latency_ms": det_ms,
                "ops": sum(ops.values()),
                "quantize_dequantize": qdq,
                **parity,
                "op_types": ops,
            }
            results.append(row)
            rows.append(
                [
                    name,
                    label,
                    round(row["size_kb"]),
                    round(det_ms, 2),
                    row["ops"],
                    qdq,
                    round(parity["box_iou"], 4),
                    round(parity["class_agree"], 4),
                    round(parity["class_agree_confident"], 4),
                    round(parity["score_cosine"], 4),
                    round(parity.get("nms_iou", float("nan")), 4),
                    round(parity.get("nms_class_agree", float("nan")), 4),
                ]
            )
        print(table(COLUMNS, rows[-len(files) - 1 :]), flush=True)
        save(args, results)  # after each model: a later failure keeps these rows
    print()
    print(table(COLUMNS, rows))
    print(f"wrote {save(args, results)}")


if __name__ == "__main__":
    main()
