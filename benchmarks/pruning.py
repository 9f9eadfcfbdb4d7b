"""Structured pruning: does the exported model get faster? Plus accuracy on digits with/without KD.

Part 1: resnet18 / mobilenet_v2 (random init, BN re-estimated) pruned at ratios 0.1..0.7: MACs, params
and measured latency ratios of the fp32 .tflite (LiteRT) and .onnx (ORT) files, interleaved with the
unpruned model in the same run. Part 2: DigitsCNN on scikit-learn digits: 50% pruned + fine-tune (with
and without KD, each importance criterion) + QAT -> int8 .tflite accuracy, next to the unpruned fp32 / int8
and pruned fp32 files. Writes pruning.json + pruning.png (accuracy vs latency vs size).

    python benchmarks/pruning.py [--size 224] [--ratios 0.1 0.3 0.5 0.7]
"""

from __future__ import annotations

import argparse
import copy
import tempfile
from pathlib import Path

import torch
from _common import RESULTS, bn_ready, interleaved, table, write

import edgekit as ek
from edgekit.demo import DigitsCNN, load_digits_split
from edgekit.runtime import Model
from edgekit.training import accuracy, train


def latency_part(size: int, ratios: list[float], folder: Path) -> list[dict]:
    rows = []
    for name in ("resnet18", "mobilenet_v2"):
        base = bn_ready(name, size)
        x = torch.rand(1, 3, size, size)
        files = {
            0.0: (
                ek.export(base, x, folder / f"{name}_0.tflite").path,
                ek.export(base, x, folder / f"{name}_0.onnx").path,
            )
        }
        stats = {0.0: (1.0, 1.0)}
        for ratio in ratios:
            result = ek.prune(base, x, config=ek.PruneConfig(ratio=ratio, round_to=8))
            unverified = ek.ExportConfig(verify=False)
            files[ratio] = (
                ek.export(result, x, folder / f"{name}_{ratio}.tflite", unverified).path,
                ek.export(result, x, folder / f"{name}_{ratio}.onnx", unverified).path,
            )
            stats[ratio] = (result.macs_ratio, result.params_ratio)
        xn = x.numpy()
        fns = {}
        for ratio, (tfl, onx) in files.items():
            t, o = Model.load(tfl, threads=1), Model.load(onx, threads=1)
            fns[f"tfl{ratio}"] = lambda t=t, xn=xn: t(xn)
            fns[f"onnx{ratio}"] = lambda o=o, xn=xn: o(xn)
        times = interleaved(fns, rounds=5, calls=5, warmup=2)
        for ratio in ratios:
            rows.append(
                {
                    "model": name,
                    "ratio": ratio,
                    "macs_ratio": stats[ratio][0],
                    "params_ratio": stats[ratio][1],
                    "litert_ms": times[f"tfl{ratio}"] * 1e3,
                    "litert_ratio": times[f"tfl{ratio}"] / times["tfl0.0"],
                    "ort_ms": times[f"onnx{ratio}"] * 1e3,
                    "ort_ratio": times[f"onnx{ratio}"] / times["onnx0.0"],
                    "size_bytes": files[ratio][0].stat().st_size,
                }
            )
        rows.append(
            {
                "model": name,
                "ratio": 0.0,
                "macs_ratio": 1.0,
                "params_ratio": 1.0,
                "litert_ms": times["tfl0.0"] * 1e3,
                "litert_ratio": 1.0,
                "ort_ms": times["onnx0.0"] * 1e3,
                "ort_ratio": 1.0,
                "size_bytes": files[0.0][0].stat().st_size,
            }
        )
    return rows


def _qat_int8(model, teacher, d, example, kd: bool, path: Path) -> Path:
    qat = ek.prepare_qat(model, example)
    train(qat, d.x_train, d.y_train, epochs=3, lr=3e-4, loss_fn=ek.Distiller(teacher) if kd else None)
    return ek.export(ek.finalize(qat), example, path).path


def _row(variant: str, path: Path, d, *, pruned: bool, precision: str, params: int) -> dict:
    return {
        "variant": variant,
        "pruned": pruned,
        "precision": precision,
        "accuracy": accuracy(Model.load(path), d.x_test, d.y_test),
        "params": params,
        "size": path.stat().st_size,
        "file": str(path),
    }


def digits_part(folder: Path) -> list[dict]:
    d = load_digits_split()
    example = torch.from_numpy(d.x_train[:1])
    batch = (torch.from_numpy(d.x_train[:256]), torch.from_numpy(d.y_train[:256]))
    torch.manual_seed(0)
    teacher = train(DigitsCNN(), d.x_train, d.y_train, epochs=12)
    n_params = sum(p.numel() for p in teacher.parameters())
    out = [
        {
            "variant": "unpruned fp32 (PyTorch)",
            "accuracy": accuracy(teacher, d.x_test, d.y_test),
            "params": n_params,
        },
        _row(
            "unpruned fp32 .tflite",
            ek.export(teacher, example, folder / "digits_fp32.tflite").path,
            d,
            pruned=False,
            precision="fp32",
            params=n_params,
        ),
        _row(
            "unpruned + QAT int8 .tflite",
            _qat_int8(copy.deepcopy(teacher), teacher, d, example, False, folder / "digits_int8.tflite"),
            d,
            pruned=False,
            precision="int8",
            params=n_params,
        ),
    ]
    variants = [
        ("l2", True),
        ("l2", False),
        ("l1", True),
        ("bn_scale", True),
        ("taylor", True),
        ("random", True),
    ]
    for importance, kd in variants:
        torch.manual_seed(0)
        config = ek.PruneConfig(ratio=0.5, importance=importance, round_to=8)
        result = ek.prune(teacher, example, config, loss_fn=batch)
        student = result.model
        train(student, d.x_train, d.y_train, epochs=6, lr=2e-3, loss_fn=ek.Distiller(teacher) if kd else None)
        label = f"50% pruned ({importance}{', KD' if kd else ', no KD'})"
        if (importance, kd) == ("l2", True):
            fp32 = ek.export(student, example, folder / "digits_pruned_fp32.tflite").path
            out.append(
                _row(
                    f"{label} fp32 .tflite",
                    fp32,
                    d,
                    pruned=True,
                    precision="fp32",
                    params=result.params_after,
                )
            )
        path = _qat_int8(student, teacher, d, example, kd, folder / f"digits_{importance}_{kd}.tflite")
        out.append(
            _row(
                f"{label} + QAT int8 .tflite",
                path,
                d,
                pruned=True,
                precision="int8",
                params=result.params_after,
            )
        )
    return out


def plot(latency_rows: list[dict], digits_rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    for name in ("resnet18", "mobilenet_v2"):
        rows = sorted((r for r in latency_rows if r["model"] == name), key=lambda r: r["ratio"])
        a.plot([r["ratio"] for r in rows], [r["litert_ratio"] for r in rows], "o-", label=f"{name} LiteRT")
        a.plot([r["ratio"] for r in rows], [r["macs_ratio"] for r in rows], "x--", label=f"{name} MACs")
    a.set_xlabel("channel ratio pruned")
    a.set_ylabel("latency / MACs vs unpruned")
    a.set_title("pruning: measured latency follows MACs")
    a.legend(fontsize=8)
    a.grid(alpha=0.3)
    files = [r for r in digits_rows if "file" in r]
    xn = load_digits_split().x_test[:1]
    models = {r["variant"]: Model.load(r["file"], threads=1) for r in files}
    ms = interleaved({v: lambda m=m: m(xn) for v, m in models.items()}, rounds=5, calls=200)
    colors = {(False, "fp32"): "C0", (False, "int8"): "C1", (True, "fp32"): "C2", (True, "int8"): "C3"}
    for (pruned, precision), color in colors.items():
        b.scatter([], [], c=color, label=f"{'pruned' if pruned else 'unpruned'} {precision}")
    for r in files:
        r["latency_ms"] = ms[r["variant"]] * 1e3
        color = colors[(r["pruned"], r["precision"])]
        b.scatter(r["latency_ms"], r["accuracy"] * 100, s=20 + r["size"] / 1000, c=color, alpha=0.6)
        b.annotate(r["variant"].replace(" .tflite", ""), (r["latency_ms"], r["accuracy"] * 100), fontsize=5)
    b.legend(fontsize=7)
    b.set_xlabel("LiteRT latency (ms, 1 thread)")
    b.set_ylabel("digits test accuracy (%)")
    b.set_title("accuracy vs latency (marker area ~ file size)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--ratios", type=float, nargs="+", default=[0.1, 0.3, 0.5, 0.7])
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        lat = latency_part(args.size, args.ratios, Path(tmp))
        digits = digits_part(Path(tmp))
        plot(lat, digits, RESULTS / "pruning.png")
    print(
        table(
            [
                "model",
                "ratio",
                "MACs ratio",
                "params ratio",
                "LiteRT ms",
                "LiteRT ratio",
                "ORT ms",
                "ORT ratio",
            ],
            [
                [
                    r["model"],
                    r["ratio"],
                    r["macs_ratio"],
                    r["params_ratio"],
                    r["litert_ms"],
                    r["litert_ratio"],
                    r["ort_ms"],
                    r["ort_ratio"],
                ]
                for r in sorted(lat, key=lambda r: (r["model"], r["ratio"]))
            ],
        )
    )
    print(
        table(
            ["variant", "accuracy %", "params", "size KiB", "LiteRT ms"],
            [
                [
                    r["variant"],
                    f"{r['accuracy'] * 100:.2f}",
                    r.get("params", ""),
                    f"{r['size'] / 1024:.1f}" if "size" in r else "",
                    f"{r['latency_ms']:.4f}" if "latency_ms" in r else "",
                ]
                for r in digits
            ],
        )
    )
    print(
        f"wrote {write('pruning', {'latency': lat, 'digits': [{k: v for k, v in r.items() if k != 'file'} for r in digits]})}"
    )
    print(f"wrote {RESULTS / 'pruning.png'}")


if __name__ == "__main__":
    main()
