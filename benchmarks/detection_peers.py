"""YOLOv8n int8 side by side: edgekit, onnx2tf 2.6.9 and the Ultralytics layout through onnx2tf.

One random-init YOLOv8n (``detection.build``: Ultralytics yaml, BatchNorm re-estimated, class layers
spread), the same 10 photos as ``detection.py`` for calibration and for judging. Files:

* ``edgekit int8``: ``ek.quantize`` (PTQ, int8) then ``ek.export``: raw head, boxes and scores apart;
* ``onnx2tf int8``: onnx2tf 2.6.9 (its own venv, ``--onnx2tf-venv``, as ``vs_onnx2tf.py``) full-integer
  quantization (``-oiqt``, the photos as ``-cind``) of the same head's float ONNX (boxes and scores apart),
  with its default backend or, where that refuses the model, ``-tb tf_converter``;
* ``ultralytics layout int8``: Ultralytics' own ONNX export of the same model (``format="onnx"``, boxes
  normalised as its TFLite export does, decoded boxes and class scores concatenated in one [1, 84, N]
  tensor), quantized by onnx2tf 2.6.9 the same way. That is how Ultralytics <= 8.3 made its TFLite int8
  file; 8.4 (installed here) moved ``format="tflite"`` to litert-torch + ai-edge-quantizer, which it
  installs at export time from PyPI, and it downloads its calibration set (coco8) unless ``data=`` is
  local: it cannot run offline, so it is not a row.

Judged against PyTorch fp32 on the same photos: box IoU on the reference's top-100 anchors, class
agreement there and on the confident anchors (fp32 score > 0.5), score cosine; LiteRT 1 thread,
interleaved; size.

    nice -n 10 .venv/bin/python benchmarks/detection_peers.py --onnx2tf-venv /tmp/o2tf

Writes benchmarks/results/detection_peers.json.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import interleaved, table, write
from detection import build, head_parity
from vs_onnx2tf import run_onnx2tf

SIZE = 320
COLUMNS = [
    "file",
    "KiB",
    "LiteRT ms (1 thr)",
    "box IoU",
    "class agree",
    "agree, score>0.5",
    "score cos",
    "error",
]


def litert(path: Path) -> Callable[[np.ndarray], list[np.ndarray]]:
    """NCHW float image -> the file's outputs as float arrays (NHWC input, float or int8 I/O)."""
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(path), num_threads=1)
    interp.allocate_tensors()
    inp = interp.get_input_details()[0]
    outs = interp.get_output_details()

    def call(x: np.ndarray) -> list[np.ndarray]:
        value = np.ascontiguousarray(x.transpose(0, 2, 3, 1)) if inp["shape"][-1] == 3 else x
        if inp["dtype"] != np.float32:
            scale, zero = inp["quantization"]
            value = np.clip(np.round(value / scale) + zero, -128, 127)
        interp.set_tensor(inp["index"], value.astype(inp["dtype"]))
        interp.invoke()
        result = []
        for o in outs:
            y = interp.get_tensor(o["index"]).astype(np.float32)
            if o["dtype"] != np.float32:
                scale, zero = o["quantization"]
                y = (y - zero) * scale
            result.append(y)
        return result

    return call


def split_head(outputs: list[np.ndarray], anchors: int, box_width: int) -> tuple[np.ndarray, np.ndarray]:
    """The raw head's (boxes [1, N, 64], scores [1, N, 80]) from a file's outputs in any order / layout."""
    rows = []
    for y in outputs:
        y = y.reshape(y.shape[-2], y.shape[-1])
        rows.append(y if y.shape[0] == anchors else y.T)
    boxes = next(r for r in rows if r.shape[1] == box_width)
    scores = next(r for r in rows if r.shape[1] != box_width)
    return boxes[None], scores[None]


def ultralytics_rows(output: np.ndarray, anchors: int) -> tuple[np.ndarray, np.ndarray]:
    """Ultralytics' [1, 84, N] (normalised cx, cy, w, h; class scores) -> (xyxy pixel boxes, scores)."""
    y = output.reshape(-1, output.shape[-1])
    y = y if y.shape[1] == anchors else y.T  # [84, N]
    cxcywh = y[:4].T * SIZE
    boxes = np.concatenate([cxcywh[:, :2] - cxcywh[:, 2:] / 2, cxcywh[:, :2] + cxcywh[:, 2:] / 2], 1)
    return boxes, y[4:].T


def ultralytics_onnx(model: Any, folder: Path) -> Path:
    """Ultralytics' own ONNX export of ``model`` with its TFLite box normalisation."""
    os.environ["YOLO_AUTOINSTALL"] = "False"
    os.environ["YOLO_OFFLINE"] = "True"
    from ultralytics import YOLO
    from ultralytics.utils.export.tensorflow import tf_wrapper

    yolo = YOLO("yolov8n.yaml")  # the same architecture; the exporter needs the wrapper's attributes
    yolo.model.load_state_dict(model.state_dict())
    tf_wrapper(yolo.model)
    cwd = Path.cwd()
    os.chdir(folder)
    try:
        return Path(yolo.export(format="onnx", imgsz=SIZE, simplify=False, opset=17)).resolve()
    finally:
        os.chdir(cwd)


def onnx2tf_int8(venv: Path, onnx_file: Path, work: Path, nhwc: np.ndarray) -> tuple[Path | None, str]:
    """onnx2tf's full-int8 file: its default backend (flatbuffer_direct), and where that refuses the model
    (2.6.9 on YOLOv8n: "Unsupported op for strict full integer quantization: op_type=FILL") or writes a
    file LiteRT cannot load (2.6.9 on the Ultralytics layout: XNNPACK "failed to delegate TRANSPOSE"), its
    tf_converter backend; the errors of the tries that failed."""
    errors = []
    for backend in (None, "tf_converter"):
        path, _, error = run_onnx2tf(
            venv, onnx_file, work / (backend or "default"), calibration=nhwc, backend=backend
        )
        if path is not None:
            try:
                litert(path)
            except RuntimeError as exc:  # written, but LiteRT refuses it
                path, error = None, f"LiteRT cannot load its file: {exc}"
        if path is not None:
            return path, " / ".join(errors)
        errors.append(f"{backend or 'flatbuffer_direct'}: {' '.join(error.split())[-200:]}")
    return None, " / ".join(errors)


def judge_decoded(
    ref: list[tuple[np.ndarray, np.ndarray]], got: list[tuple[np.ndarray, np.ndarray]]
) -> dict[str, float]:
    """``head_parity`` on already-decoded boxes (xyxy pixels) and scores."""
    from edgekit.converters.tflite.nms import BoxFormat, NMSConfig

    config = NMSConfig(box_format=BoxFormat.XYXY)
    return head_parity([(b[None], s[None]) for b, s in ref], [(b[None], s[None]) for b, s in got], config)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--onnx2tf-venv", type=Path, required=True)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    import torch

    import edgekit as ek
    from edgekit.converters.tflite.nms import decode_boxes

    torch.set_num_threads(1)
    folder = Path(tempfile.mkdtemp(prefix="ek-detection-peers-"))
    head, images = build("yolov8n", SIZE)
    x = torch.from_numpy(images[0])
    nms = head.nms_config()
    anchors = int(nms.anchors.shape[0]) if hasattr(nms.anchors, "shape") else len(nms.anchors)
    with torch.no_grad():
        ref_raw = [tuple(t.numpy() for t in head(torch.from_numpy(a))) for a in images]
    ref = [(decode_boxes(b, nms), s.reshape(anchors, -1)) for b, s in ref_raw]

    calib = [torch.from_numpy(a) for a in images]
    quantized = ek.quantize(head, x, calibrate=calib).model
    ours = ek.export(quantized, x, folder / "edgekit_int8.tflite", ek.ExportConfig(verify=False)).path
    head_onnx = ek.export(head, x, folder / "head.onnx").path
    nhwc = np.ascontiguousarray(np.concatenate(images).transpose(0, 2, 3, 1))
    theirs, theirs_error = onnx2tf_int8(args.onnx2tf_venv, head_onnx, folder / "o2t", nhwc)
    ultra_onnx = ultralytics_onnx(head.detector, folder)
    ultra, ultra_error = onnx2tf_int8(args.onnx2tf_venv, ultra_onnx, folder / "ultra", nhwc)

    rows, results, runners = [], [], {}
    for label, path, error in (
        ("edgekit int8", ours, ""),
        ("onnx2tf int8", theirs, theirs_error),
        ("ultralytics layout int8 (onnx2tf)", ultra, ultra_error),
    ):
        if path is None:
            results.append({"file": label, "error": error})
            rows.append([label, "", "", "", "", "", "", " ".join(error.split())[:120]])
            continue
        run = litert(path)
        outputs = [run(a) for a in images]
        if label.startswith("ultralytics"):
            parity = judge_decoded(ref, [ultralytics_rows(o[0], anchors) for o in outputs])
        else:
            got = [split_head(o, anchors, nms.box_width) for o in outputs]
            parity = judge_decoded(ref, [(decode_boxes(b, nms), s[0]) for b, s in got])
        runners[label] = lambda run=run: run(images[0])
        results.append({"file": label, "size_kb": path.stat().st_size / 1024, **parity})
    latency = interleaved(runners, rounds=args.rounds, calls=5, warmup=2)
    for r in results:
        if "size_kb" not in r:
            continue
        r["latency_ms"] = latency[r["file"]] * 1e3
        rows.append(
            [
                r["file"],
                round(r["size_kb"]),
                round(r["latency_ms"], 2),
                round(r["box_iou"], 4),
                round(r["class_agree"], 4),
                round(r["class_agree_confident"], 4),
                round(r["score_cosine"], 4),
                "",
            ]
        )
    print(table(COLUMNS, rows))
    print(f"wrote {write('detection_peers', {'size': SIZE, 'photos': len(images), 'rows': results})}")


if __name__ == "__main__":
    main()
