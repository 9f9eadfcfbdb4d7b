"""Int8 coverage: torchvision classifiers and timm edge models, PTQ with ``ek.quantize`` -> full-integer
int8 .tflite with ``ek.export`` (direct writer), checked against the PyTorch-quantized model and fp32.

Per model: quantize s, convert s, TFLite ops, QUANTIZE / DEQUANTIZE inside the graph (the file's inputs
and outputs are int8, so each one is a requantize or a float island), op types that compute in float,
int8 file size against the fp32 weights, top-1 agreement and minimum cosine of the .tflite vs the
PyTorch-quantized model and vs fp32, the writer's notes, and the model's noise floor (``noise_floor``:
PyTorch-int8 against itself with 1% of every activation rounded one step the other way). Status: ``ok`` (0 islands,
top-1 and cosine >= 0.99 vs PyTorch-int8), ``noise floor`` (below 0.99, but at most twice as far from
PyTorch-int8, in 1 - cosine, as that noise moves it), ``parity`` (further), ``float islands``.

Random init, nothing downloaded (timm ``pretrained=False``), BatchNorm statistics re-estimated
(``coverage.build``). Inputs are crops of scikit-learn's two sample photos (structured, not noise), ImageNet
normalised: ``--calib`` batches of 8 calibrate, ``--eval`` single images are compared. Models over
``--max-mb`` of fp32 weights or ``--max-params`` million parameters are skipped (recorded); the rest run
smallest first, so an interrupted run has covered the models phones ship. Resumable like coverage.py: rows accumulate in
benchmarks/results/int8_coverage.json, one process per model; ``--redo`` re-runs the selected ones.

    python benchmarks/int8_coverage.py [--set timm|torchvision|all] [--models resnet18 timm/lcnet_050] [--size 160]
"""

from __future__ import annotations

import argparse
import copy
import gc
import json
import resource
import subprocess
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torchvision
from _common import RESULTS, isolated, table, write
from coverage import build as build_torchvision
from coverage import redraw_zero_weights

import edgekit as ek

#: timm models that ship to phones and boards (random init; each exists in timm 1.0 without weights).
TIMM = [
    "mobilenetv3_small_100",
    "mobilenetv3_large_100",
    "mobilenetv4_conv_small",
    "efficientnet_b0",
    "efficientnet_lite0",
    "tinynet_e",
    "mnasnet_small",
    "ghostnet_100",
    "lcnet_050",
    "regnetx_002",
    "resnet18",
    "mobileone_s0",
    "repvit_m0_9",
    "convnext_atto",
    "convnext_femto",
    "hgnetv2_b0",
    "edgenext_xx_small",
    "efficientformerv2_s0",
    "deit_tiny_patch16_224",
    "vit_tiny_patch16_224",
    "mobilevit_xxs",
    "mobilevitv2_050",
    "efficientvit_b0",
    "fastvit_t8",
    "levit_128s",
]
MEAN = np.asarray([0.485, 0.456, 0.406], np.float32).reshape(1, 3, 1, 1)
STD = np.asarray([0.229, 0.224, 0.225], np.float32).reshape(1, 3, 1, 1)


def photo_crops(count: int, size: int, seed: int) -> np.ndarray:
    """``count`` random crops (scale and position) of scikit-learn's sample photos, NCHW, normalised."""
    from sklearn.datasets import load_sample_images

    photos = [torch.from_numpy(p).permute(2, 0, 1).float() / 255 for p in load_sample_images().images]
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        photo = photos[i % len(photos)]
        side = int(rng.integers(96, min(photo.shape[1:]) + 1))
        top = int(rng.integers(0, photo.shape[1] - side + 1))
        left = int(rng.integers(0, photo.shape[2] - side + 1))
        crop = photo[None, :, top : top + side, left : left + side]
        out.append(torch.nn.functional.interpolate(crop, size=(size, size), mode="bilinear").numpy())
    return (np.concatenate(out) - MEAN) / STD


def build_timm(name: str, size: int) -> tuple[torch.nn.Module, int]:
    """A timm model, random init, BatchNorm statistics from photo crops; fixed-size models (ViTs) keep
    their own input size."""
    import timm

    torch.manual_seed(0)
    model = timm.create_model(name, pretrained=False)
    redraw_zero_weights(model)
    fixed = model.pretrained_cfg.get("fixed_input_size", False)
    used = int(model.pretrained_cfg["input_size"][-1]) if fixed else size
    model.train()
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.reset_running_stats()
            module.momentum = None
    with torch.no_grad():
        for seed in range(2):
            model(torch.from_numpy(photo_crops(4, used, 100 + seed)))
    return model.eval(), used


def fp32_size(name: str, source: str) -> tuple[float, float]:
    """(MiB of weights + buffers, millions of parameters) of the fp32 model, measured on the meta device
    (nothing allocated); builders that compute on tensors (torchvision's RegNets) are built on the CPU."""

    def make() -> torch.nn.Module:
        if source == "timm":
            import timm

            return timm.create_model(name, pretrained=False)
        return torchvision.models.get_model(name, weights=None)

    try:
        with torch.device("meta"):
            model = make()
    except (NotImplementedError, RuntimeError):
        model = make()
    tensors = [*model.parameters(), *model.buffers()]
    mib = sum(t.numel() * t.element_size() for t in tensors) / 2**20
    return mib, sum(p.numel() for p in model.parameters()) / 1e6


def inspect(path: Path) -> tuple[Counter[str], list[str]]:
    """The file's op histogram and the op types that compute in float (a float32 output)."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interp = Interpreter(
        model_path=str(path),
        experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
    )
    dtypes = {t["index"]: t["dtype"] for t in interp.get_tensor_details()}
    ops: Counter[str] = Counter()
    floating: set[str] = set()
    for op in interp._get_ops_details():
        ops[op["op_name"]] += 1
        if any(dtypes.get(int(i)) == np.float32 for i in op["outputs"]):
            floating.add(op["op_name"])
    return ops, sorted(floating)


_NOISE = torch.Generator().manual_seed(7)


def _flip(x: torch.Tensor, scale: float, share: float) -> torch.Tensor:
    """``x`` with one quantization step added or taken on a random ``share`` of its values."""
    hit = torch.rand(x.shape, generator=_NOISE) < share
    sign = torch.randint(0, 2, x.shape, generator=_NOISE) * 2 - 1
    return x + hit * sign * scale


def noise_floor(
    quantized: torch.nn.Module, inputs: list[np.ndarray], share: float = 0.01
) -> dict[str, float]:
    """How far PyTorch-int8's outputs move when a ``share`` of every activation rounds one int8 step the
    other way: the kind of difference two correct int8 implementations have (TFLite's fixed-point
    requantization against PyTorch's float rounding; per-layer compares of the .tflite files show 1-step
    differences on 0.1-1% of a layer's values). A model that moves far under that noise cannot be matched
    closer by any int8 file; one that barely moves, and still differs from the file, has a real gap."""
    import torch.fx

    noisy = copy.deepcopy(quantized)
    assert isinstance(noisy, torch.fx.GraphModule)
    graph = noisy.graph
    for node in list(graph.nodes):
        source = node.args[0] if node.op == "call_function" and node.args else None
        if "dequantize_per_tensor" not in str(node.target) or getattr(source, "op", "") == "get_attr":
            continue
        with graph.inserting_after(node):
            flipped = graph.call_function(_flip, (node, node.args[1], share))
        node.replace_all_uses_with(flipped, delete_user_cb=lambda user, new=flipped: user is not new)
    noisy.recompile()
    cosines, same = [], []
    with torch.no_grad():
        for x in inputs:
            a = quantized(torch.from_numpy(x)).flatten().double()
            b = noisy(torch.from_numpy(x)).flatten().double()
            cosines.append(float(a @ b / (a.norm() * b.norm())))
            same.append(int(a.argmax()) == int(b.argmax()))
    return {"floor_cosine": min(cosines), "floor_top1": float(np.mean(same))}


def floor_only(name: str, source: str, size: int, calib: int, evals: int) -> dict[str, Any]:
    """The noise floor of a model measured earlier (quantized again the same way; its row gets the two
    fields)."""
    model, _used, batches, inputs = prepare(name, source, size, calib, evals)
    quantized = ek.quantize(model, torch.from_numpy(inputs[0]), calibrate=batches).model
    return noise_floor(quantized, inputs)


def _status(row: dict[str, Any]) -> str:
    islands = row["quantize_ops"] + row["dequantize_ops"] > 0 or bool(row["float_ops"])
    parity = row["top1_vs_quantized"] >= 0.99 and row["cosine_vs_quantized"] >= 0.99
    if parity:
        return "float islands" if islands else "ok"
    # within the floor: no more than twice as far from PyTorch-int8 as the 1%-flip noise moves it (the
    # per-layer compares show 0.1-1% of values a step apart, so 1% may be under what a file differs by)
    at_floor = "floor_cosine" in row and 1 - row["cosine_vs_quantized"] <= 2 * (1 - row["floor_cosine"])
    return ("float islands, " if islands else "") + ("noise floor" if at_floor else "parity")


def prepare(
    name: str, source: str, size: int, calib: int, evals: int
) -> tuple[torch.nn.Module, int, list[torch.Tensor], list[np.ndarray]]:
    """The model (2 torch threads), its input side, ``calib`` calibration batches of 8 photo crops and
    ``evals`` single crops to compare on: the same for a row and for its noise floor."""
    torch.set_num_threads(2)
    model, used = build_timm(name, size) if source == "timm" else build_torchvision(name, size)
    batches = [torch.from_numpy(photo_crops(8, used, seed)) for seed in range(calib)]
    return model, used, batches, [x[None] for x in photo_crops(evals, used, 1000)]


def one(name: str, source: str, size: int, folder: Path, calib: int, evals: int) -> dict[str, Any]:
    row: dict[str, Any] = {"model": key(name, source), "source": source}
    try:
        model, used, batches, inputs = prepare(name, source, size, calib, evals)
        row["input"] = used
        row["fp32_mb"] = sum(t.numel() * t.element_size() for t in model.state_dict().values()) / 2**20
        t0 = time.perf_counter()
        quantized = ek.quantize(model, torch.from_numpy(inputs[0]), calibrate=batches).model
        row["quantize_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        result = ek.export(
            quantized, torch.from_numpy(inputs[0]), folder / f"{name}.tflite", ek.ExportConfig(verify=False)
        )
        row["convert_s"] = time.perf_counter() - t0
        ops, floating = inspect(result.path)
        row.update(
            ops=sum(ops.values()),
            quantize_ops=ops.get("QUANTIZE", 0),
            dequantize_ops=ops.get("DEQUANTIZE", 0),
            float_ops=floating,
            int8_mb=result.size_bytes / 2**20,
            notes=sorted(set(result.notes)),
        )
        vs_q = ek.compare(quantized, result.path, inputs)
        vs_fp32 = ek.compare(model, result.path, inputs)
        torch_q = ek.compare(model, quantized, inputs)
        row.update(
            top1_vs_quantized=vs_q.top1_agreement,
            cosine_vs_quantized=vs_q.cosine_min,
            top1_vs_fp32=vs_fp32.top1_agreement,
            cosine_vs_fp32=vs_fp32.cosine_min,
            torch_int8_top1_vs_fp32=torch_q.top1_agreement,
            torch_int8_cosine_vs_fp32=torch_q.cosine_min,
            eval_images=evals,
            **noise_floor(quantized, inputs),
        )
        row["status"] = _status(row)
    except Exception as exc:
        row["status"] = "failed"
        row["error"] = f"{type(exc).__name__}: {' '.join(str(exc).split())[:400]}"
        row["trace"] = traceback.format_exc(limit=3)[-600:]
    finally:
        row["peak_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
        for p in folder.iterdir():
            p.unlink()
        gc.collect()
    return row


def key(name: str, source: str) -> str:
    """The row's name: timm models are ``timm/<name>`` (timm and torchvision both have a resnet18)."""
    return f"timm/{name}" if source == "timm" else name


def selected(args: argparse.Namespace) -> list[tuple[str, str]]:
    tv = sorted(torchvision.models.list_models(module=torchvision.models))
    if args.models:
        return [(n[5:], "timm") if n.startswith("timm/") else (n, "torchvision") for n in args.models]
    return [(n, "torchvision") for n in tv if args.set != "timm"] + [
        (n, "timm") for n in TIMM if args.set != "torchvision"
    ]


def render(rows: list[dict[str, Any]]) -> str:
    def f(r: dict[str, Any], key: str, fmt: str) -> str:
        return format(r[key], fmt) if key in r else ""

    body = [
        [
            r["model"],
            r.get("input", ""),
            f(r, "quantize_s", ".1f"),
            f(r, "convert_s", ".1f"),
            r.get("ops", ""),
            f"{r['quantize_ops']}/{r['dequantize_ops']}" if "ops" in r else "",
            " ".join(r.get("float_ops", [])),
            f"{r['int8_mb']:.1f}/{r['fp32_mb']:.1f}" if "int8_mb" in r else "",
            f"{r['top1_vs_quantized']:.2f} / {r['cosine_vs_quantized']:.4f}" if "ops" in r else "",
            f"{r['top1_vs_fp32']:.2f} / {r['cosine_vs_fp32']:.4f}" if "ops" in r else "",
            f"{r['torch_int8_top1_vs_fp32']:.2f}" if "ops" in r else "",
            f"{r['floor_top1']:.2f} / {r['floor_cosine']:.4f}" if "floor_cosine" in r else "",
            r["status"] if "error" not in r else r["error"][:90].replace("|", "/"),
            r.get("commit", ""),
        ]
        for r in rows
    ]
    headers = [
        "model",
        "input",
        "quantize s",
        "convert s",
        "ops",
        "Q/DQ",
        "float ops",
        "int8/fp32 MB",
        "top-1 / cos vs torch int8",
        "top-1 / cos vs fp32",
        "torch int8 top-1 vs fp32",
        "noise floor top-1 / cos",
        "status",
        "commit",
    ]
    return table(headers, body)


def add_floors(done: dict[str, dict[str, Any]], args: argparse.Namespace) -> None:
    for name, source in selected(args):
        row = done.get(key(name, source))
        if row is None or "ops" not in row or ("floor_cosine" in row and not args.redo):
            continue
        floor = isolated(floor_only, name, source, row["input"], args.calib, row["eval_images"])
        if "floor_cosine" not in floor:
            print(f"{row['model']}: {floor.get('error', 'no floor measured')}", flush=True)
            continue
        row.update(floor)
        row["status"] = _status(row)
        write(args.out, {"results": list(done.values())})
        print(f"{row['model']}: floor cosine {row['floor_cosine']:.4f}, {row['status']}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", nargs="*")
    parser.add_argument("--set", choices=["torchvision", "timm", "all"], default="all")
    parser.add_argument("--size", type=int, default=160, help="input side where the model allows it")
    parser.add_argument("--calib", type=int, default=2, help="calibration batches of 8 photo crops")
    parser.add_argument("--eval", type=int, default=32, help="single photo crops compared")
    parser.add_argument("--max-mb", type=float, default=300.0, help="skip models with more fp32 weights")
    parser.add_argument("--max-params", type=float, default=60.0, help="skip models with more (millions)")
    parser.add_argument("--redo", action="store_true")
    parser.add_argument("--redo-failed", action="store_true", help="re-run the rows that failed")
    parser.add_argument(
        "--out",
        type=Path,
        default=RESULTS / "int8_coverage.json",
        help="results JSON (read to resume, rewritten after each model)",
    )
    parser.add_argument(
        "--floor",
        action="store_true",
        help="only add the noise floor to measured rows that lack it (with --redo: to all)",
    )
    parser.add_argument("--table", action="store_true", help="print the table of the results so far")
    args = parser.parse_args()
    path = args.out
    done = {} if not path.exists() else {r["model"]: r for r in json.loads(path.read_text())["results"]}
    if args.floor:
        add_floors(done, args)
    if args.floor or args.table:
        summarize(list(done.values()))
        return
    with tempfile.TemporaryDirectory() as tmp:
        sizes = {pair: fp32_size(*pair) for pair in selected(args)}
        for (name, source), (mb, params) in sorted(sizes.items(), key=lambda item: item[1][1]):
            row_key = key(name, source)
            commit = (
                subprocess.run(  # per row: fixes land while a long run goes on (each model, a new process)
                    ["git", "rev-parse", "--short", "HEAD"],
                    capture_output=True,
                    text=True,
                    cwd=Path(__file__).parent,
                ).stdout.strip()
            )
            failed = row_key in done and done[row_key]["status"] == "failed"
            if row_key in done and not args.redo and not (args.redo_failed and failed):
                continue
            if mb > args.max_mb or params > args.max_params:
                row = {
                    "model": row_key,
                    "fp32_mb": mb,
                    "status": f"skipped: {params:.0f} M params, {mb:.0f} MB fp32",
                }
            else:
                row = isolated(one, name, source, args.size, Path(tmp), args.calib, args.eval)
            done[row_key] = {**row, "model": row_key, "source": source, "commit": commit}
            write(path, {"results": list(done.values())})
            print(f"{row_key}: {done[row_key]['status']} {done[row_key].get('error', '')[:160]}", flush=True)
    summarize(list(done.values()))


def summarize(rows: list[dict[str, Any]]) -> None:
    print(render(rows))
    convnets = [r for r in rows if "ops" in r]
    clean = sum(r["quantize_ops"] + r["dequantize_ops"] == 0 and not r["float_ops"] for r in convnets)
    print(f"\n{clean}/{len(convnets)} converted models have 0 float islands; ", end="")
    print(
        f"{sum(r['status'] == 'ok' for r in rows)}/{len(rows)} ok (0 islands, top-1 >= 0.99, cosine >= 0.99); "
        f"{sum(r['status'].endswith('noise floor') for r in rows)} below 0.99 but within the noise floor; "
        f"{sum(r['status'].endswith('parity') for r in rows)} below it"
    )


if __name__ == "__main__":
    main()
