"""Converter coverage: every torchvision classification model (+ two segmentation models) exported to
ONNX and converted to fp32 TFLite, with parity against PyTorch (cosine >= 0.9999, max abs <= 1e-3 x range).

Resumable: results accumulate in benchmarks/results/coverage.json; models already there are skipped
unless --redo (which re-runs the selected models, replacing their rows one by one; each row records the
edgekit commit it was measured with). Random weights with BatchNorm statistics
re-estimated (untrained nets output ~1e-9), and zero-initialised layers (ViT's head) re-drawn so the
output is not a constant that any converter would match.

    python benchmarks/coverage.py [--models resnet18 vit_b_16] [--size 224] [--redo] [--table]
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import subprocess
import tempfile
import time
import traceback
from pathlib import Path

import torch
import torchvision
from _common import RESULTS, isolated, table, write

import edgekit as ek
from edgekit.runtime import Model

SEGMENTATION = ["lraspp_mobilenet_v3_large", "deeplabv3_mobilenet_v3_large"]


class OutOnly(torch.nn.Module):
    """Segmentation models return a dict; export its "out" tensor."""

    def __init__(self, inner: torch.nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x)["out"]


def redraw_zero_weights(model: torch.nn.Module) -> None:
    """Re-draw weight matrices initialised to all zeros (torchvision's ViT head): a constant output
    would make the parity check vacuous."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.Linear) and not module.weight.any():
                torch.nn.init.normal_(module.weight, std=0.02)


def build(name: str, size: int) -> tuple[torch.nn.Module, int]:
    torch.manual_seed(0)
    if name in SEGMENTATION:
        model = OutOnly(
            torchvision.models.get_model(name, weights=None, weights_backbone=None, num_classes=21)
        )
    else:
        model = torchvision.models.get_model(name, weights=None)
    redraw_zero_weights(model)
    model.train()
    for candidate in (size, 224, 299):
        try:
            with torch.no_grad():
                model(torch.rand(2, 3, candidate, candidate))
            break
        except Exception:
            continue
    with torch.no_grad():
        model(torch.rand(2, 3, candidate, candidate))
    return model.eval(), candidate


FLATBUFFER_LIMIT = 2**31  # a .tflite file is one FlatBuffer: 32-bit offsets, at most 2 GiB


def one(name: str, size: int, folder: Path, writer: str = "direct") -> dict:
    row: dict = {"model": name}
    try:
        model, used = build(name, size)
        weight_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
        row["writer"] = writer
        if weight_bytes >= FLATBUFFER_LIMIT and writer == "tf":  # the direct writer stores weights outside
            row.update(
                status="too large",
                error=f"fp32 weights are {weight_bytes / 2**30:.2f} GiB: over the 2 GiB FlatBuffer limit of one "
                ".tflite file (int8 weights would be a quarter of that; that path is not tried here)",
            )
            return row
        row["input"] = used
        x = torch.rand(1, 3, used, used)
        t0 = time.perf_counter()
        onnx_result = ek.export(model, x, folder / f"{name}.onnx")
        row["export_s"] = time.perf_counter() - t0
        row["onnx_ops"] = sum(onnx_result.ops.values())
        t0 = time.perf_counter()
        tfl = ek.convert(
            onnx_result.path, folder / f"{name}.tflite", ek.ConvertConfig(verify=False, writer=writer)
        )
        row["convert_s"] = time.perf_counter() - t0
        report = ek.compare(model, tfl.path, [x.numpy()])
        row.update(
            ops=sum(tfl.ops.values()),
            transposes=tfl.ops.get("TRANSPOSE", 0),
            size_mb=tfl.size_bytes / 2**20,
            cosine=report.cosine_min,
            max_abs=report.max_abs,
            output_range=report.output_range,
            parity=report.within(cosine=0.9999, rel_max_abs=1e-3),
        )
        row.update(xnnpack(tfl.path))
        row["status"] = "ok" if row["parity"] else "parity"
        if report.output_range == 0:
            row["status"] = "constant output"
    except Exception as exc:
        row["status"] = "failed"
        row["error"] = f"{type(exc).__name__}: {' '.join(str(exc).split())[:400]}"
        row["trace"] = traceback.format_exc(limit=3)[-600:]
    finally:
        row["peak_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # this worker's peak
        for p in folder.iterdir():
            p.unlink()
        gc.collect()
    return row


def xnnpack(path: Path) -> dict:
    """How many of the file's nodes LiteRT's XNNPACK delegate takes, and the op types it leaves."""
    coverage = Model.load(path, backend="litert", delegate="xnnpack", threads=1).delegate_coverage()
    return {
        "xnnpack_nodes": coverage["delegated_nodes"],
        "nodes": coverage["total_nodes"],
        "xnnpack_fallback": coverage["fallback_op_types"],
    }


def carried_tf_path(old: dict) -> dict:
    """The TensorFlow-converter row's numbers (a row without a ``writer`` key), kept beside a direct re-run."""
    if old.get("writer") not in (None, "tf") or "ops" not in old:
        return {key: value for key, value in old.items() if key.startswith("tf_")}
    carried = {"tf_ops": old["ops"], "tf_transposes": old.get("transposes"), "tf_commit": old.get("commit")}
    if "xnnpack_nodes" in old:
        carried.update(tf_xnnpack_nodes=old["xnnpack_nodes"], tf_nodes=old["nodes"])
    return carried


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", nargs="*")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--redo", action="store_true")
    parser.add_argument(
        "--table", action="store_true", help="print the table of the results on file, run nothing"
    )
    parser.add_argument(
        "--writer", choices=["direct", "tf"], default="direct", help="results: coverage[_tf].json"
    )
    args = parser.parse_args()
    torch.set_num_threads(2)
    names = args.models or (sorted(torchvision.models.list_models(module=torchvision.models)) + SEGMENTATION)
    result_name = "coverage" if args.writer == "direct" else "coverage_tf"
    path = RESULTS / f"{result_name}.json"
    done = {} if not path.exists() else {r["model"]: r for r in json.loads(path.read_text())["results"]}
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=Path(__file__).parent
    ).stdout.strip()
    if args.table:
        print(summary(done))
        return
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            if name in done and not args.redo:
                continue
            carried = carried_tf_path(done[name]) if name in done and args.writer == "direct" else {}
            done[name] = {
                **isolated(one, name, args.size, Path(tmp), args.writer),
                **carried,
                "commit": commit,
            }
            write(result_name, {"results": list(done.values())})
            row = done[name]
            print(
                f"{name}: {row['status']} ops {row.get('ops')} (TF path {row.get('tf_ops')}) "
                f"xnnpack {row.get('xnnpack_nodes')}/{row.get('nodes')} {row.get('error', '')[:160]}",
                flush=True,
            )
    print(summary(done))


def _pair(value: object, tf_value: object) -> str:
    """``direct (TF path)`` when the TF-path number differs, else the one number."""
    if value in (None, ""):
        return "–"
    return f"{value} ({tf_value})" if tf_value not in (None, value) else str(value)


def summary(done: dict[str, dict]) -> str:
    """The README table: one row a model (sorted, segmentation last) and the count of rows with parity."""
    order = sorted(done, key=lambda m: (m in SEGMENTATION, m))
    rows = []
    for name in order:
        r = done[name]
        ratio = r["max_abs"] / r["output_range"] if r.get("output_range") else None
        rows.append(
            [
                name,
                r.get("writer") or "tf",
                r.get("input", "–"),
                _pair(r.get("ops"), r.get("tf_ops")),
                _pair(r.get("transposes"), r.get("tf_transposes")),
                f"{r['xnnpack_nodes']}/{r['nodes']}" if "xnnpack_nodes" in r else "–",
                f"{r['export_s']:.1f}" if "export_s" in r else "–",
                f"{r['convert_s']:.1f}" if "convert_s" in r else "–",
                f"{r['cosine']:.6f}" if "cosine" in r else "–",
                f"{ratio:.1e}" if ratio is not None else "–",
                f"{r['size_mb']:.1f}" if r.get("size_mb") else "–",
                f"{r['peak_gib']:.1f}" if r.get("peak_gib") else "–",
                r["status"] if r["status"] != "failed" else r["error"][:80],
            ]
        )
    direct = [r for r in done.values() if r.get("writer") == "direct"]
    ok = sum(r["status"] == "ok" for r in done.values())
    return "\n".join(
        [
            table(
                [
                    "model",
                    "writer",
                    "input",
                    "TFLite ops (TF path)",
                    "TRANSPOSE (TF path)",
                    "XNNPACK nodes",
                    "export s",
                    "convert s",
                    "cosine",
                    "max abs / range",
                    "MB",
                    "peak GiB",
                    "status",
                ],
                rows,
            ),
            "",
            f"{ok}/{len(done)} models convert with parity; with the direct writer "
            f"{sum(r['status'] == 'ok' for r in direct)}/{len(direct)}",
        ]
    )


if __name__ == "__main__":
    main()
