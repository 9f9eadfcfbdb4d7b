"""Int8 cross-check of the two TFLite writers: the same PT2E-quantized QDQ ONNX file converted by the
direct writer and by ``writer="tf"`` (TensorFlow's converter), both run by LiteRT on the same inputs.

Per model (torchvision, random weights with BatchNorm statistics re-estimated, ``ek.quantize`` with 16
random calibration batches, ``ek.export`` QDQ at opset 18): the share of output elements that are
identical, the largest difference in output quantization steps (the goal: identical or within 1 step),
op counts and conversion seconds of both writers.

    python benchmarks/int8_writers.py [--models resnet18 mobilenet_v2] [--size 224]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _common import bn_ready, table, write

import edgekit as ek
from edgekit.runtime import Model


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", nargs="+", default=["resnet18", "mobilenet_v2"])
    parser.add_argument("--size", type=int, default=224)
    args = parser.parse_args()
    rows, results = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for name in args.models:
            model = bn_ready(name, args.size)
            generator = torch.Generator().manual_seed(1)
            x = torch.rand(1, 3, args.size, args.size, generator=generator)
            calibration = [torch.rand(1, 3, args.size, args.size, generator=generator) for _ in range(16)]
            quantized = ek.quantize(model, x, calibrate=calibration)
            qdq = ek.export(quantized, x, work / f"{name}_qdq.onnx", ek.ExportConfig(verify=False)).path
            seconds, files = {}, {}
            for writer in ("direct", "tf"):
                start = time.perf_counter()
                files[writer] = ek.convert(
                    qdq, work / f"{name}_{writer}.tflite", ek.ConvertConfig(verify=False, writer=writer)
                )
                seconds[writer] = time.perf_counter() - start
            direct, via_tf = Model.load(files["direct"].path), Model.load(files["tf"].path)
            step = float(direct.outputs[0].quantization[0])
            inputs = torch.rand(8, 1, 3, args.size, args.size, generator=generator).numpy()
            a = np.stack([direct.run(sample) for sample in inputs])
            b = np.stack([via_tf.run(sample) for sample in inputs])
            steps = np.abs(a.astype(np.float64) - b) / step
            results[name] = {
                "identical_share": float(np.mean(steps < 0.5)),
                "max_steps": float(steps.max()),
                "output_step": step,
                "ops_direct": sum(files["direct"].ops.values()),
                "ops_tf": sum(files["tf"].ops.values()),
                "convert_s": seconds,
            }
            r = results[name]
            rows.append(
                [
                    name,
                    f"{r['identical_share']:.4f}",
                    f"{r['max_steps']:.1f}",
                    f"{r['ops_direct']} / {r['ops_tf']}",
                    f"{seconds['direct']:.1f} / {seconds['tf']:.1f}",
                ]
            )
            print(rows[-1], flush=True)
    print(
        table(
            [
                "model (int8)",
                "identical outputs",
                "max diff (steps)",
                "ops direct / tf",
                "convert s direct / tf",
            ],
            rows,
        )
    )
    print(write("int8_writers", {"size": args.size, "results": results}))


if __name__ == "__main__":
    main()
