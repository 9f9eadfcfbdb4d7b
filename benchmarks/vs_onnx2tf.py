"""edgekit's ONNX->TFLite translator vs onnx2tf (a peer, never a dependency) on the same ONNX files.

onnx2tf pins tensorflow 2.19 / numpy 1.26, so it lives in its own virtual environment
(``--onnx2tf-venv``, created with ``python3 -m venv V && V/bin/pip install onnx2tf``). It tries to
download a calibration sample for 3-channel image models unless a local file of that name exists in its
working directory (an all-zero one is created there), and it overwrites its input, so it gets a copy.
Compared: conversion time, LiteRT latency of the produced files (same interpreter and threads), fp32
parity vs PyTorch, and what each tool makes of a QDQ int8 model.

    python benchmarks/vs_onnx2tf.py --onnx2tf-venv /tmp/onnx2tf-venv [--models mobilenet_v2 resnet18 ...]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _common import bn_ready, interleaved, raw_litert, table, write

import edgekit as ek
from edgekit.runtime import Model

CALIBRATION = "calibration_image_sample_data_20x128x128x3_float32.npy"


def run_onnx2tf(venv: Path, onnx_file: Path, work: Path) -> tuple[Path | None, float, str]:
    work.mkdir(parents=True, exist_ok=True)
    np.save(work / CALIBRATION, np.zeros((20, 128, 128, 3), np.float32))
    source = work / "input.onnx"
    shutil.copy(onnx_file, source)
    start = time.perf_counter()
    done = subprocess.run(
        [str(venv / "bin" / "onnx2tf"), "-i", str(source), "-o", str(work / "out"), "-n"],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    seconds = time.perf_counter() - start
    produced = sorted((work / "out").glob("*_float32.tflite"))
    return (produced[0] if produced else None), seconds, done.stderr[-400:] if done.returncode else ""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--onnx2tf-venv", type=Path, required=True)
    parser.add_argument(
        "--models", nargs="+", default=["mobilenet_v2", "resnet18", "mobilenet_v3_small", "efficientnet_b0"]
    )
    parser.add_argument("--size", type=int, default=224)
    args = parser.parse_args()
    rows, results = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for name in args.models:
            model = bn_ready(name, args.size)
            x = torch.rand(1, 3, args.size, args.size)
            onnx_file = ek.export(model, x, folder / f"{name}.onnx").path
            t0 = time.perf_counter()
            ours = ek.convert(onnx_file, folder / f"{name}.tflite", verify=False).path
            ours_s = time.perf_counter() - t0
            theirs, theirs_s, error = run_onnx2tf(args.onnx2tf_venv, onnx_file, folder / f"o2t_{name}")
            reference = model(x).detach().numpy()
            nhwc = np.ascontiguousarray(x.numpy().transpose(0, 2, 3, 1))
            ours_out = Model.load(ours)(x.numpy())
            entry = {
                "ours_s": ours_s,
                "theirs_s": theirs_s,
                "error": error,
                "ours_max_abs": float(np.abs(ours_out - reference).max()),
            }
            if theirs is not None:
                theirs_out = raw_litert(theirs, nhwc)()
                entry["theirs_max_abs"] = float(np.abs(theirs_out.reshape(reference.shape) - reference).max())
                lat = interleaved(
                    {"ours": raw_litert(ours, nhwc), "theirs": raw_litert(theirs, nhwc)},
                    rounds=5,
                    calls=5,
                )
                entry.update(ours_ms=lat["ours"] * 1e3, theirs_ms=lat["theirs"] * 1e3)
            results[name] = entry
            rows.append(
                [
                    name,
                    f"{ours_s:.1f}",
                    f"{theirs_s:.1f}",
                    f"{ours_s / theirs_s:.3f}",
                    f"{entry.get('ours_ms', 0):.2f}",
                    f"{entry.get('theirs_ms', 0):.2f}",
                    f"{entry['ours_max_abs']:.2e}",
                    f"{entry.get('theirs_max_abs', float('nan')):.2e}",
                    error[:60],
                ]
            )
    print(
        table(
            [
                "model",
                "edgekit s",
                "onnx2tf s",
                "time ratio",
                "edgekit ms",
                "onnx2tf ms",
                "edgekit max abs",
                "onnx2tf max abs",
                "onnx2tf error",
            ],
            rows,
        )
    )
    print(f"wrote {write('vs_onnx2tf', {'results': results})}")


if __name__ == "__main__":
    main()
