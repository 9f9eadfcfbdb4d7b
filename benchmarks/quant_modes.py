"""Quantization schemes side by side: fp32, int8, int16x8, float16 and dynamic-range int8 .tflite files.

For each model (trained on scikit-learn digits as in ``quantization.py``; ``resnet18`` is torchvision's,
random init with BatchNorm re-estimated, so it has agreement and no accuracy): accuracy of the file on the
held-out split, top-1 agreement and minimum cosine of the file's logits with the fp32 PyTorch model, the
same against the scheme's own PyTorch reference (the PT2E-quantized model for int8 / int16x8, fp32 for
the weight-only schemes), file size, ops left to the CPU after XNNPACK, and LiteRT 1-thread latency
(interleaved).

The ``auto_keep`` row is ``QuantConfig(auto_keep=AutoKeep(target_cosine=--target, keep_as=--keep-as,
max_layers=--max-layers))``: int8 with the layers ``ek.sensitivity`` ranks worst kept in int16 (or float)
until the target cosine vs fp32 is met on the calibration batches; the row names the kept layers and the
search time.

    python benchmarks/quant_modes.py [--models cnn resnet mobilenet_v2 resnet18] [--target 0.99]
"""

from __future__ import annotations

import argparse
import copy
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from _common import RESULTS, bn_ready, interleaved, table, write
from quantization import build

import edgekit as ek
from edgekit.demo import load_digits_split
from edgekit.runtime import Model
from edgekit.runtime.cpuinfo import cpu_info
from edgekit.training import train

SCHEMES = ("int8", "int16x8", "float16", "dynamic_int8")


def _data(name: str) -> tuple[torch.nn.Module, np.ndarray, np.ndarray | None, np.ndarray, np.ndarray | None]:
    """(fp32 model, calibration inputs, None or labels..., test inputs, test labels or None)."""
    torch.manual_seed(0)
    if name == "resnet18":
        model = bn_ready("resnet18", 64, num_classes=10)
        rng = np.random.default_rng(0)
        calib = rng.random((128, 3, 64, 64), dtype=np.float32)
        test = rng.random((64, 3, 64, 64), dtype=np.float32)
        return model, calib, None, test, None
    model, data_kwargs, budget = build(name)
    d = load_digits_split(**data_kwargs)
    fp32 = train(
        model, d.x_train, d.y_train, epochs=budget.epochs, lr=budget.lr, batch_size=budget.batch_size
    )
    return fp32, d.x_train[:256], d.y_train, d.x_test, d.y_test


def _logits(model: Any, x: np.ndarray) -> np.ndarray:
    if isinstance(model, Model):
        return np.concatenate([model(x[i : i + 1]) for i in range(len(x))])
    with torch.no_grad():
        return model(torch.from_numpy(x)).numpy()


def _agreement(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    top1 = float((a.argmax(1) == b.argmax(1)).mean())
    cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-12)
    return top1, float(cos.min())


def _cpu_ops(path: Path) -> dict[str, int]:
    """Ops XNNPACK left to LiteRT's own kernels."""
    return dict(Model.load(path, threads=1).delegate_coverage()["fallback_op_types"])


def run_model(name: str, folder: Path, auto_keep: ek.AutoKeep) -> dict[str, Any]:
    t0 = time.perf_counter()
    fp32, calib, _, x_test, y_test = _data(name)
    example = torch.from_numpy(calib[:1])
    batches = [calib[i : i + 32] for i in range(0, len(calib), 32)]
    fp32_logits = _logits(fp32, x_test)
    files = {"fp32": ek.export(fp32, example, folder / f"{name}_fp32.tflite")}
    references: dict[str, Any] = {"fp32": fp32}
    seconds: dict[str, float] = {}
    for scheme in SCHEMES:
        start = time.perf_counter()
        config = ek.QuantConfig(scheme=scheme)
        calibrate = batches if config.scheme.calibrated else None
        result = ek.quantize(copy.deepcopy(fp32), example, config=config, calibrate=calibrate)
        files[scheme] = ek.export(result, example, folder / f"{name}_{scheme}.tflite")
        seconds[scheme] = time.perf_counter() - start
        references[scheme] = result.model
    start = time.perf_counter()
    try:
        result = ek.quantize(
            copy.deepcopy(fp32), example, config=ek.QuantConfig(auto_keep=auto_keep), calibrate=batches
        )
    except ek.QuantizationError as exc:  # the target was out of reach: the row says so
        return {"schemes": {}, "auto_keep_error": str(exc), "seconds": time.perf_counter() - t0}
    files["auto_keep"] = ek.export(result, example, folder / f"{name}_auto_keep.tflite")
    seconds["auto_keep"] = time.perf_counter() - start
    references["auto_keep"] = result.model
    assert result.auto_keep is not None
    kept = result.auto_keep.to_dict()
    rows: dict[str, Any] = {}
    loaded = {k: Model.load(f.path, threads=1) for k, f in files.items()}
    for key, out in files.items():
        logits = _logits(loaded[key], x_test)
        vs_fp32 = _agreement(logits, fp32_logits)
        vs_ref = _agreement(logits, _logits(references[key], x_test))
        rows[key] = {
            "accuracy": float((logits.argmax(1) == y_test).mean()) if y_test is not None else None,
            "top1_vs_fp32": vs_fp32[0],
            "cosine_min_vs_fp32": vs_fp32[1],
            "top1_vs_reference": vs_ref[0],
            "cosine_min_vs_reference": vs_ref[1],
            "size_bytes": out.size_bytes,
            "ops": out.ops,
            "cpu_ops_after_xnnpack": _cpu_ops(out.path),
            "quantize_export_s": seconds.get(key),
        }
    sample = x_test[:1]
    latency = interleaved({k: (lambda m=m: m(sample)) for k, m in loaded.items()}, rounds=10, calls=30)
    for key, value in latency.items():
        rows[key]["latency_ms"] = value * 1e3
    rows["auto_keep"]["search"] = kept
    return {"schemes": rows, "seconds": time.perf_counter() - t0}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", nargs="+", default=["cnn", "resnet", "mobilenet_v2", "resnet18"])
    parser.add_argument("--target", type=float, default=0.99, help="auto_keep target cosine vs fp32")
    parser.add_argument("--keep-as", choices=["int16", "float"], default="int16")
    parser.add_argument("--max-layers", type=int, default=8)
    args = parser.parse_args()
    auto_keep = ek.AutoKeep(target_cosine=args.target, keep_as=args.keep_as, max_layers=args.max_layers)
    torch.set_num_threads(2)
    path = RESULTS / "quant_modes.json"
    results = json.loads(path.read_text())["results"] if path.exists() else {}  # other models' rows stay
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models:
            results[name] = run_model(name, Path(tmp), auto_keep)
            print(f"{name}: done in {results[name]['seconds']:.0f} s")
            write("quant_modes", {"results": results})  # kept if a later model is interrupted
    rows = []
    for name, r in results.items():
        if "auto_keep_error" in r:
            print(f"{name} auto_keep: {r['auto_keep_error']}")
            continue
        fp32_size = r["schemes"]["fp32"]["size_bytes"]
        for key, s in r["schemes"].items():
            cpu = ", ".join(f"{k}x{v}" for k, v in s["cpu_ops_after_xnnpack"].items()) or "-"
            rows.append(
                [
                    name,
                    key,
                    "-" if s["accuracy"] is None else f"{s['accuracy'] * 100:.2f}",
                    f"{s['top1_vs_fp32'] * 100:.1f}",
                    f"{s['cosine_min_vs_fp32']:.5f}",
                    f"{s['top1_vs_reference'] * 100:.1f}",
                    f"{s['cosine_min_vs_reference']:.5f}",
                    f"{s['size_bytes'] / 1024:.1f}",
                    f"{s['size_bytes'] / fp32_size:.2f}",
                    f"{s['latency_ms']:.4f}",
                    cpu,
                ]
            )
        if "auto_keep" not in r["schemes"]:
            continue
        search = r["schemes"]["auto_keep"]["search"]
        steps = " -> ".join(f"{st['cosine']:.4f}" for st in search["steps"])
        print(
            f"{name} auto_keep ({search['keep_as']}): kept {search['kept'] or 'none'}; cosine per step {steps}"
        )
    print(
        table(
            [
                "model",
                "scheme",
                "accuracy %",
                "top-1 vs fp32 %",
                "cos min vs fp32",
                "top-1 vs own ref %",
                "cos min vs own ref",
                "KiB",
                "size / fp32",
                "LiteRT 1-thread ms",
                "ops not in XNNPACK",
            ],
            rows,
        )
    )
    print(f"CPU flags of this run (int8 speed depends on VNNI / dotprod): {' '.join(cpu_info()['flags'])}")
    print(f"wrote {write('quant_modes', {'results': results})}")


if __name__ == "__main__":
    main()
