"""Where a detector's int8 class agreement goes: the file or quantization itself.

For one ``detection.py`` model (random init, BatchNorm re-estimated, class layers spread; the same 10
photos for calibration and judging) and each scheme (int8, 16x8), three pairs on the raw head outputs:
fp32 PyTorch vs the PyTorch quantized model, fp32 vs the .tflite, the quantized model vs the .tflite
(``detection.head_parity``: box IoU and class agreement on the reference's top-100 anchors, score cosine).
If the quantized model loses what the file loses, the file is not the cause. Then class agreement over
all anchors by the fp32 margin between the two best scores, and how many anchors the candidate's two
best scores tie on.

    nice -n 10 .venv/bin/python benchmarks/detection_int8_loss.py [--model yolo11n] [--schemes int8,int16x8]

Writes benchmarks/results/detection_int8_loss.json.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import table, write
from detection import build, head_parity

#: Bins of the fp32 margin between an anchor's two best scores (1/256 is one int8 sigmoid step).
MARGINS = (0.0, 1 / 256, 0.01, 0.03, 0.1, 1.0)


def by_margin(ref: list[Any], got: list[Any]) -> dict[str, Any]:
    """Class agreement over all anchors per fp32 top-2 margin bin; share of anchors whose two best
    candidate scores are equal."""
    margins, agree, tied = [], [], []
    for (_, rs), (_, gs) in zip(ref, got, strict=True):
        rs, gs = rs.reshape(-1, rs.shape[-1]), gs.reshape(-1, rs.shape[-1])
        top, cand = np.sort(rs, 1), np.sort(gs, 1)
        margins.append(top[:, -1] - top[:, -2])
        agree.append(rs.argmax(1) == gs.argmax(1))
        tied.append(cand[:, -1] == cand[:, -2])
    m, ok = np.concatenate(margins), np.concatenate(agree)
    bins = {}
    for lo, hi in itertools.pairwise(MARGINS):
        sel = (m >= lo) & (m < hi)
        bins[f"{lo:.4g}-{hi:.4g}"] = {
            "anchors": int(sel.sum()),
            "agree": float(ok[sel].mean()) if sel.any() else None,
        }
    return {
        "anchors": int(m.size),
        "agree_all": float(ok.mean()),
        "tied": float(np.concatenate(tied).mean()),
        "bins": bins,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="yolo11n")
    parser.add_argument("--schemes", default="int8,int16x8")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    import torch

    import edgekit as ek
    from edgekit.runtime import Model

    torch.set_num_threads(1)
    head, images = build(args.model, 320)
    x, calib = torch.from_numpy(images[0]), [torch.from_numpy(a) for a in images]
    nms = head.nms_config(score_threshold=0.0, max_detections=100)
    with torch.no_grad():
        fp32 = [tuple(t.numpy() for t in head(torch.from_numpy(a))) for a in images]
    folder = Path(tempfile.mkdtemp(prefix="ek-int8-loss-"))
    rows, margin_rows, results = [], [], []
    for scheme in args.schemes.split(","):
        config = ek.QuantConfig(scheme=ek.QuantScheme(scheme))
        quantized = ek.quantize(head, x, config=config, calibrate=calib).model
        path = ek.export(quantized, x, folder / f"{scheme}.tflite", config=ek.ExportConfig(verify=False)).path
        with torch.no_grad():
            torch_q = [tuple(t.numpy() for t in quantized(torch.from_numpy(a))) for a in images]
        model = Model.load(path, threads=1)
        file = [tuple(model.run(a)) for a in images]
        pairs = {"fp32 vs PyTorch-quantized": (fp32, torch_q), "fp32 vs file": (fp32, file)}
        pairs["PyTorch-quantized vs file"] = (torch_q, file)
        for label, (ref, got) in pairs.items():
            parity = head_parity(ref, got, nms)
            margins = by_margin(ref, got)
            results.append({"scheme": scheme, "pair": label, **parity, **margins})
            rows.append(
                [
                    scheme,
                    label,
                    *(round(parity[k], 4) for k in ("box_iou", "class_agree", "score_cosine")),
                    round(margins["agree_all"], 4),
                    round(margins["tied"], 4),
                ]
            )
            if label != "PyTorch-quantized vs file":
                margin_rows.append(
                    [scheme, label, *(f"{b['agree']:.3f} ({b['anchors']})" for b in margins["bins"].values())]
                )
    print(
        table(
            [
                "scheme",
                "pair",
                "box IoU (top-100)",
                "class agree (top-100)",
                "score cos",
                "class agree (all)",
                "candidate top-2 tied",
            ],
            rows,
        )
    )
    print()
    print(table(["scheme", "pair", *(f"margin {k}" for k in results[0]["bins"])], margin_rows))
    print(
        f"wrote {write('detection_int8_loss', {'model': args.model, 'photos': len(images), 'rows': results})}"
    )


if __name__ == "__main__":
    main()
