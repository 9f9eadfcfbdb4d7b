"""edgekit's ONNX->TFLite translator vs onnx2tf (a peer, never a dependency) on the same ONNX files.

onnx2tf pins its own tensorflow/numpy/onnx, so it lives in its own virtual environment (``--onnx2tf-venv``;
for 2.6.9: ``python3.12 -m venv V && V/bin/pip install -r /work/shared/onnx2tf-2.6.9-requirements.txt``).
onnx2tf 2.x has two backends, both run here (``--backends``): ``flatbuffer_direct`` (its default, writes
the flatbuffer itself) and ``tf_converter`` (TensorFlow's converter). Conversion time is cold on both
sides: the onnx2tf CLI process, and a fresh Python process running ``ek.convert(verify=False)``. It tries to
download a calibration sample for 3-channel image models unless a local file of that name exists in its
working directory (an all-zero one is created there), and it overwrites its input, so it gets a copy.
Compared, fp32: cold conversion time, op count, LiteRT latency of the produced files (same interpreter
and threads, interleaved), parity vs PyTorch. Int8, from the same random-weight model and the same 16 calibration
inputs: edgekit quantizes in PyTorch (``ek.quantize``) and converts its QDQ ONNX; onnx2tf quantizes the
float ONNX with the TFLite converter (``-tb tf_converter -oiqt`` with those inputs via ``-cind``; its
default backend fails ``-oiqt``). Both int8 files are
judged against PyTorch fp32 on 8 other inputs, edgekit's also against its own reference (PyTorch
quantized and ONNX Runtime QDQ, in output quantization steps), and onnx2tf is also given edgekit's QDQ
file to show what it makes of one.

    python benchmarks/vs_onnx2tf.py --onnx2tf-venv /tmp/o2tf [--models mobilenet_v2 resnet18 ...] [--no-int8]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
from _common import RESULTS, bn_ready, cold_convert, interleaved, raw_litert, table, write

import edgekit as ek
from edgekit.runtime import Model
from edgekit.runtime.tflite_flatbuffer import op_histogram

CALIBRATION = "calibration_image_sample_data_20x128x128x3_float32.npy"


BACKENDS = ("flatbuffer_direct", "tf_converter")


def run_onnx2tf(
    venv: Path,
    onnx_file: Path,
    work: Path,
    *,
    calibration: np.ndarray | None = None,
    backend: str | None = None,
) -> tuple[Path | None, float, str]:
    """onnx2tf on a copy of ``onnx_file`` (``backend``: ``-tb`` of onnx2tf 2.x, None for its default); with
    ``calibration`` (NHWC, 0..1) also its full-int8 file."""
    work.mkdir(parents=True, exist_ok=True)
    np.save(work / CALIBRATION, np.zeros((20, 128, 128, 3), np.float32))
    source = work / "input.onnx"
    shutil.copy(onnx_file, source)
    command = [str(venv / "bin" / "onnx2tf"), "-i", str(source), "-o", str(work / "out"), "-n"]
    if backend is not None:
        command += ["-tb", backend]
    pattern = "*_float32.tflite"
    if calibration is not None:
        np.save(work / "calibration.npy", calibration)
        name = onnx.load(str(onnx_file), load_external_data=False).graph.input[0].name
        command += ["-oiqt", "-cind", name, str(work / "calibration.npy"), "[[[[0,0,0]]]]", "[[[[1,1,1]]]]"]
        pattern = "*_full_integer_quant.tflite"
    start = time.perf_counter()
    done = subprocess.run(command, cwd=work, capture_output=True, text=True, timeout=1800)
    seconds = time.perf_counter() - start
    produced = sorted((work / "out").glob(pattern))
    return (produced[0] if produced else None), seconds, done.stderr[-400:] if done.returncode else ""


def nchw_runner(path: Path) -> Callable[[np.ndarray], np.ndarray]:
    """An NCHW-float-in, float-out call of a bare NHWC .tflite (float or int8 I/O), one sample at a time."""
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(path), num_threads=1)
    interp.allocate_tensors()
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]

    def call(x: np.ndarray) -> np.ndarray:
        results = []
        for sample in x:
            value = np.ascontiguousarray(sample.transpose(1, 2, 0)[None])
            if inp["dtype"] != np.float32:
                scale, zero = inp["quantization"]
                info = np.iinfo(inp["dtype"])
                value = np.clip(np.round(value / scale) + zero, info.min, info.max)
            interp.set_tensor(inp["index"], value.astype(inp["dtype"]))
            interp.invoke()
            y = interp.get_tensor(out["index"]).astype(np.float64)
            if out["dtype"] != np.float32:
                scale, zero = out["quantization"]
                y = (y - zero) * scale
            results.append(y.reshape(-1))
        return np.stack(results)

    return call


def int8_entry(
    venv: Path,
    model: torch.nn.Module,
    x: torch.Tensor,
    onnx_file: Path,
    folder: Path,
    name: str,
    backend: str | None = "tf_converter",
) -> dict[str, Any]:
    """Quantize with both tools from the same calibration inputs and judge both int8 files (onnx2tf's
    ``-oiqt`` with ``backend``: its default ``flatbuffer_direct`` fails its own int8 on these models)."""
    generator = torch.Generator().manual_seed(1)
    calib = torch.rand(16, 1, *x.shape[1:], generator=generator)
    evaluation = torch.rand(8, *x.shape[1:], generator=generator).numpy()
    qmodel = ek.quantize(model, x, calibrate=list(calib)).model
    qdq = ek.export(qmodel, x, folder / f"{name}_qdq.onnx").path
    t0 = time.perf_counter()
    ours = ek.convert(qdq, folder / f"{name}_int8.tflite", config=ek.ConvertConfig(verify=False)).path
    ours_s = time.perf_counter() - t0
    nhwc = np.ascontiguousarray(calib[:, 0].numpy().transpose(0, 2, 3, 1))
    theirs, theirs_s, error = run_onnx2tf(
        venv, onnx_file, folder / f"o2t_{name}_int8", calibration=nhwc, backend=backend
    )
    from_qdq, _, qdq_error = run_onnx2tf(venv, qdq, folder / f"o2t_{name}_qdq")
    out_scale = Model.load(ours).outputs[0].quantization[0]
    ours_run = nchw_runner(ours)
    entry: dict[str, Any] = {
        "onnx2tf_backend": backend or "default",
        "ours_s": ours_s,
        "theirs_s": theirs_s,
        "error": error,
        "output_step": out_scale,
        "ours_vs_fp32": ek.compare(model, ours_run, evaluation).to_dict(),
        "ours_vs_quantized_torch": ek.compare(qmodel, ours_run, evaluation).to_dict(),
        "ours_vs_ort_qdq": ek.compare(qdq, ours_run, evaluation).to_dict(),
    }
    if theirs is not None:
        theirs_run, one = nchw_runner(theirs), evaluation[:1]
        entry["theirs_vs_fp32"] = ek.compare(model, theirs_run, evaluation).to_dict()
        lat = interleaved(
            {"ours": lambda: ours_run(one), "theirs": lambda: theirs_run(one)}, rounds=9, calls=5
        )
        entry.update(ours_ms=lat["ours"] * 1e3, theirs_ms=lat["theirs"] * 1e3)
    if from_qdq is not None:
        entry["theirs_from_qdq_vs_ort_qdq"] = ek.compare(qdq, nchw_runner(from_qdq), evaluation).to_dict()
    else:
        entry["theirs_from_qdq_error"] = qdq_error
    return entry


def int8_row(name: str, e: dict[str, Any]) -> list[str]:
    step = e["output_step"]
    theirs = e.get("theirs_vs_fp32", {})
    from_qdq = e.get("theirs_from_qdq_vs_ort_qdq", {})
    return [
        name,
        f"{e['ours_s']:.1f}",
        f"{e['theirs_s']:.1f}",
        f"{e.get('ours_ms', 0):.2f}",
        f"{e.get('theirs_ms', 0):.2f}",
        f"{e['ours_vs_fp32']['cosine_mean']:.4f} / {theirs.get('cosine_mean', float('nan')):.4f}",
        f"{e['ours_vs_fp32']['top1_agreement']:.3f} / {theirs.get('top1_agreement', float('nan')):.3f}",
        f"{e['ours_vs_quantized_torch']['max_abs'] / step:.1f} / {e['ours_vs_ort_qdq']['max_abs'] / step:.1f}",
        f"{from_qdq.get('cosine_mean', float('nan')):.4f}"
        if from_qdq
        else e.get("theirs_from_qdq_error", "")[:40],
    ]


def _save(results: dict[str, Any]) -> None:
    """Merge into vs_onnx2tf.json after each model (models not re-run keep their earlier entries)."""
    previous = RESULTS / "vs_onnx2tf.json"
    merged = json.loads(previous.read_text())["results"] if previous.exists() else {}
    merged.update(results)
    write("vs_onnx2tf", {"results": merged})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--onnx2tf-venv", type=Path, required=True)
    parser.add_argument(
        "--models", nargs="+", default=["mobilenet_v2", "resnet18", "mobilenet_v3_small", "efficientnet_b0"]
    )
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--no-int8", action="store_true", help="fp32 only")
    parser.add_argument("--backends", nargs="+", default=list(BACKENDS), choices=BACKENDS)
    parser.add_argument(
        "--int8-backend", default="tf_converter", choices=BACKENDS, help="onnx2tf backend for its -oiqt file"
    )
    parser.add_argument(
        "--int8-only", action="store_true", help="re-run the int8 entry only, keeping the fp32 rows on file"
    )
    args = parser.parse_args()
    previous = RESULTS / "vs_onnx2tf.json"
    kept = json.loads(previous.read_text())["results"] if previous.exists() else {}
    rows, int8_rows, results = [], [], {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for name in args.models:
            model = bn_ready(name, args.size)
            x = torch.rand(1, 3, args.size, args.size)
            onnx_file = ek.export(model, x, folder / f"{name}.onnx").path
            if args.int8_only:
                entry = dict(kept.get(name, {}))
                entry["int8"] = int8_entry(
                    args.onnx2tf_venv, model, x, onnx_file, folder, name, args.int8_backend
                )
                int8_rows.append(int8_row(name, entry["int8"]))
                results[name] = entry
                _save(results)
                continue
            ours = folder / f"{name}.tflite"
            ours_s = min(cold_convert(onnx_file, ours) for _ in range(2))
            reference = model(x).detach().numpy()
            output_range = float(reference.max() - reference.min())
            nhwc = np.ascontiguousarray(x.numpy().transpose(0, 2, 3, 1))
            ours_out = Model.load(ours)(x.numpy())
            entry: dict[str, Any] = {
                "ours_cold_s": ours_s,
                "ours_ops": sum(op_histogram(ours.read_bytes()).values()),
                "ours_max_abs": float(np.abs(ours_out - reference).max()),
                "output_range": output_range,
            }
            runners = {"edgekit": raw_litert(ours, nhwc)}
            for backend in args.backends:
                theirs, theirs_s, error = run_onnx2tf(
                    args.onnx2tf_venv, onnx_file, folder / f"o2t_{name}_{backend}", backend=backend
                )
                side: dict[str, Any] = {"cold_s": theirs_s, "error": error}
                if theirs is not None:
                    theirs_out = raw_litert(theirs, nhwc)().reshape(reference.shape)
                    side.update(
                        ops=sum(op_histogram(theirs.read_bytes()).values()),
                        max_abs=float(np.abs(theirs_out - reference).max()),
                        cosine=float(
                            theirs_out.ravel()
                            @ reference.ravel()
                            / (np.linalg.norm(theirs_out) * np.linalg.norm(reference))
                        ),
                    )
                    runners[backend] = raw_litert(theirs, nhwc)
                entry[backend] = side
            lat = interleaved(runners, rounds=11, calls=5, warmup=2)
            entry["latency_ms"] = {k: v * 1e3 for k, v in lat.items()}
            if not args.no_int8:
                entry["int8"] = int8_entry(
                    args.onnx2tf_venv, model, x, onnx_file, folder, name, args.int8_backend
                )
                int8_rows.append(int8_row(name, entry["int8"]))
            results[name] = entry
            _save(results)
            for backend in args.backends:
                side = entry[backend]
                rows.append(
                    [
                        name,
                        backend,
                        f"{ours_s:.2f}",
                        f"{side['cold_s']:.2f}",
                        f"{ours_s / side['cold_s']:.2f}",
                        f"{entry['ours_ops']} / {side.get('ops', '-')}",
                        f"{lat['edgekit'] / lat[backend]:.2f}" if backend in lat else "-",
                        f"{entry['ours_max_abs'] / output_range:.1e} / "
                        f"{side.get('max_abs', float('nan')) / output_range:.1e}",
                        f"{side.get('cosine', float('nan')):.6f}",
                        side["error"][:60],
                    ]
                )
            print(rows[-1], flush=True)
    print(
        table(
            [
                "model",
                "onnx2tf backend",
                "edgekit cold s",
                "onnx2tf cold s",
                "time edgekit/onnx2tf",
                "ops edgekit / onnx2tf",
                "latency edgekit/onnx2tf",
                "max abs / range vs PyTorch (edgekit / onnx2tf)",
                "onnx2tf cosine vs PyTorch",
                "onnx2tf error",
            ],
            rows,
        )
    )
    if int8_rows:
        print(
            table(
                [
                    "model (int8)",
                    "edgekit s",
                    "onnx2tf s",
                    "edgekit ms",
                    "onnx2tf ms",
                    "cosine vs fp32 (edgekit / onnx2tf)",
                    "top-1 vs fp32 (edgekit / onnx2tf)",
                    "edgekit vs PyTorch int8 / ORT QDQ (steps)",
                    "onnx2tf on the QDQ file: cosine vs ORT",
                ],
                int8_rows,
            )
        )


if __name__ == "__main__":
    main()
