"""LayerNorm in int8 transformers, the measured choice: ``QuantConfig(layer_norm="float")`` (a float island:
DEQUANTIZE, the float lowering, QUANTIZE) against ``"int8"`` (the lowering MEAN/SUB/MUL/MEAN/ADD/RSQRT/MUL
with a calibrated int8 range per op).

Per model and mode: TFLite ops, QUANTIZE/DEQUANTIZE ops, minimum cosine of the .tflite vs fp32 PyTorch and vs
the PyTorch-quantized model over ``--eval`` inputs, and LiteRT latency (1 thread, XNNPACK default, both modes
timed interleaved). Models: timm deit_tiny_patch16_224 (random init, photo crops as in int8_coverage.py) and
a 2-layer BERT from ``transformers.BertConfig`` (hidden 64, random init, random token ids). Nothing is
downloaded.

    python benchmarks/layer_norm.py [--models deit_tiny bert] [--eval 8]
"""

from __future__ import annotations

import argparse
import tempfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from _common import interleaved, table, write
from int8_coverage import build_timm, photo_crops

import edgekit as ek
from edgekit.runtime import Model

MODES = ("float", "int8")


def _cosine(a: Any, b: Any) -> float:
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def _first(out: Any) -> Any:
    if isinstance(out, tuple | list):
        return _first(out[0])
    if hasattr(out, "last_hidden_state"):
        return out.last_hidden_state
    return out.detach().numpy() if isinstance(out, torch.Tensor) else out


def build(name: str) -> tuple[torch.nn.Module, Callable[[int], torch.Tensor]]:
    """The fp32 model and ``make(seed)`` giving one input."""
    if name == "bert":
        from transformers import BertConfig, BertModel

        torch.manual_seed(0)
        config = BertConfig(
            num_hidden_layers=2,
            hidden_size=64,
            num_attention_heads=2,
            intermediate_size=128,
            vocab_size=1000,
            max_position_embeddings=64,
        )
        return BertModel(config).eval(), lambda seed: torch.randint(
            0, 1000, (1, 16), generator=torch.Generator().manual_seed(seed)
        )
    model, size = build_timm(name, 224)
    return model, lambda seed: torch.from_numpy(photo_crops(1, size, seed))


def _latency_call(path: Path) -> Callable[[], Any]:
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(path), num_threads=1)
    interp.allocate_tensors()
    feeds = []
    for detail in interp.get_input_details():
        dtype = detail["dtype"]
        data = (
            np.zeros(detail["shape"], dtype)
            if np.issubdtype(dtype, np.integer)
            else np.random.default_rng(0).random(detail["shape"]).astype(dtype)
        )
        feeds.append((detail["index"], data))

    def call() -> None:
        for index, data in feeds:
            interp.set_tensor(index, data)
        interp.invoke()

    return call


def measure(name: str, folder: Path, evals: int, calib: int) -> list[dict[str, Any]]:
    model, make = build(name)
    torch.set_num_threads(2)
    example = make(0)
    batches = [make(100 + i) for i in range(calib)]
    inputs = [make(1000 + i) for i in range(evals)]
    with torch.no_grad():
        fp32 = [_first(model(x)) for x in inputs]
    rows, paths = [], {}
    for mode in MODES:
        config = ek.QuantConfig(layer_norm=mode)
        quantized = ek.quantize(model, example, calibrate=batches, config=config).model
        result = ek.export(
            quantized, example, folder / f"{name}_{mode}.tflite", ek.ExportConfig(verify=False)
        )
        paths[mode] = result.path
        runner = Model.load(result.path)
        with torch.no_grad():
            q_out = [_first(quantized(x)) for x in inputs]
        t_out = [_first(runner.run(x.numpy())) for x in inputs]
        ops = Counter(result.ops)
        rows.append(
            {
                "model": name,
                "layer_norm": mode,
                "ops": sum(ops.values()),
                "quantize_ops": ops.get("QUANTIZE", 0),
                "dequantize_ops": ops.get("DEQUANTIZE", 0),
                "cosine_vs_fp32": min(_cosine(t, f) for t, f in zip(t_out, fp32, strict=True)),
                "cosine_vs_quantized": min(_cosine(t, q) for t, q in zip(t_out, q_out, strict=True)),
                "torch_int8_cosine_vs_fp32": min(_cosine(q, f) for q, f in zip(q_out, fp32, strict=True)),
                "size_kib": result.size_bytes / 1024,
            }
        )
    latency = interleaved({mode: _latency_call(p) for mode, p in paths.items()}, rounds=9, calls=10)
    for row in rows:
        row["litert_ms"] = latency[row["layer_norm"]] * 1e3
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", nargs="*", default=["deit_tiny_patch16_224", "bert"])
    parser.add_argument("--eval", type=int, default=8)
    parser.add_argument("--calib", type=int, default=4, help="calibration inputs")
    args = parser.parse_args()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models:
            rows += measure(name, Path(tmp), args.eval, args.calib)
    headers = [
        "model",
        "LayerNorm",
        "ops",
        "Q/DQ",
        "cos vs fp32",
        "cos vs torch int8",
        "torch int8 cos vs fp32",
    ]
    headers += ["LiteRT ms (1 thread)", "KiB"]
    body = [
        [
            r["model"],
            r["layer_norm"],
            r["ops"],
            f"{r['quantize_ops']}/{r['dequantize_ops']}",
            f"{r['cosine_vs_fp32']:.4f}",
            f"{r['cosine_vs_quantized']:.4f}",
            f"{r['torch_int8_cosine_vs_fp32']:.4f}",
            f"{r['litert_ms']:.2f}",
            f"{r['size_kib']:.0f}",
        ]
        for r in rows
    ]
    print(table(headers, body))
    print("wrote", write("layer_norm", {"args": vars(args), "results": rows}))


if __name__ == "__main__":
    main()
