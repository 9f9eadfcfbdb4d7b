"""QAT on a CUDA GPU: the prepared model trains on the GPU, finalizes there, and exports the same
QDQ file as a CPU-trained one would (scales from the GPU run, parity checked by export).

Needs a CUDA device (run on the lent GPU machine; CI has none). Prints a table and writes JSON.

    python benchmarks/gpu_qat.py [--epochs 3]
"""

from __future__ import annotations

import argparse
import copy
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _common import table, write

import edgekit as ek
from edgekit.demo import DigitsResNet, load_digits_split
from edgekit.quantization import qat_step
from edgekit.runtime import Model
from edgekit.training import accuracy, train


def qat_epochs(model: torch.nn.Module, x: np.ndarray, y: np.ndarray, device: str, epochs: int) -> float:
    """Plain user loop on ``device``; seconds per epoch."""
    model.to(device).train()
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    gen = torch.Generator().manual_seed(0)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    step = 0
    t0 = time.perf_counter()
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=gen)
        for i in range(0, len(x) - 1, 64):
            idx = order[i : i + 64]
            xb, yb = xt[idx].to(device), yt[idx].to(device)
            loss = torch.nn.functional.cross_entropy(model(xb), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            qat_step(model, step)
            step += 1
    if device == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - t0) / epochs


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("no CUDA device: run this on a machine with a GPU")
    torch.manual_seed(0)
    d = load_digits_split(size=8)
    example = torch.from_numpy(d.x_train[:1])
    fp32 = train(DigitsResNet(), d.x_train, d.y_train, epochs=12)
    rows, results = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for device in ("cpu", "cuda"):
            torch.manual_seed(0)
            qat = ek.prepare_qat(copy.deepcopy(fp32).to(device), example)  # captured on its device
            sec = qat_epochs(qat, d.x_train, d.y_train, device, args.epochs)
            final = ek.finalize(qat)
            exported = ek.export(final, example, Path(tmp) / f"{device}.onnx")
            results[device] = {
                "s_per_epoch": sec,
                "torch_onnx_agreement": float(ek.compare(final, exported.path, [d.x_test]).top1_agreement),
                "onnx_acc": accuracy(Model.load(exported.path), d.x_test, d.y_test),
                "export_parity_max_abs": exported.parity.max_abs if exported.parity else None,
                "finalized_on": str(next(final.parameters(), torch.empty(0)).device),
            }
            rows.append(
                [
                    device,
                    f"{sec:.2f}",
                    f"{results[device]['torch_onnx_agreement'] * 100:.2f}",
                    f"{results[device]['onnx_acc'] * 100:.2f}",
                ]
            )
    print(table(["QAT on", "s / epoch", "torch~.onnx top-1 agreement %", "QDQ .onnx accuracy %"], rows))
    print(f"GPU: {torch.cuda.get_device_name()}; torch {torch.__version__}")
    print(f"wrote {write('gpu_qat', {'gpu': torch.cuda.get_device_name(), 'results': results})}")


if __name__ == "__main__":
    main()
