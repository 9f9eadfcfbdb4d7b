"""Where ``ek.convert`` spends its time, direct writer vs ``writer="tf"``, on the same fp32 ONNX files.

Per model (torchvision, 224x224, 1000 classes, BatchNorm statistics re-estimated, exported once with
``ek.export`` at opset 18):

* cold: the wall time of a fresh Python process that runs ``ek.convert(src, dst, verify=False)`` (best of
  3; once with ``writer="tf"``), and in another fresh process the direct writer's stages: Python start
  (``python -c pass``), import edgekit, ONNX load (protobuf parse, no ``onnx`` import), normalise (skipped
  for an ``ek.export`` file with nothing to fold), layout (GELU fusion, handlers + emitter), passes, write,
  and the verification that ``verify=True`` adds (LiteRT + XNNPACK load and one run);
* warm: the median of 3 further conversions in one process;
* the LiteRT one-thread latency of the two writers' files (interleaved) and their op counts;
* the goal's base: onnx2tf's default backend (flatbuffer_direct) on the same file in the same run, cold
  (its CLI process; best of 2), from the venv given by ``--onnx2tf-venv`` (see ``vs_onnx2tf.py``).

    python benchmarks/convert_time.py --onnx2tf-venv /tmp/o2tf [--models mobilenet_v2 resnet18 ...]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import bn_ready, cold_convert, interleaved, raw_litert, table, write
from vs_onnx2tf import run_onnx2tf

MODELS = ["mobilenet_v2", "resnet18", "efficientnet_b0", "mobilenet_v3_small"]

BREAKDOWN = r"""
import json, sys, time
start = time.perf_counter()
import edgekit as ek
from edgekit.converters import api  # noqa: F401
from edgekit.converters.onnx_normalize import load_onnx, normalize
from edgekit.converters.tflite.direct import convert as direct
from edgekit.converters.tflite.fuse_gelu import fuse_gelu
t_import = time.perf_counter()
proto = load_onnx(sys.argv[1])
t_load = time.perf_counter()
proto = normalize(proto)
t_normal = time.perf_counter()
model, _ = fuse_gelu(proto)
built = direct.build_graph(model)
data = bytes(direct.write(built, {"edgekit": b"{}"}))
open(sys.argv[2], "wb").write(data)
timings = built.timings
out = {"import": t_import - start, "onnx_load": t_load - t_import, "normalise": t_normal - t_load,
       "layout": timings["layout"], "passes": timings["passes"], "write": timings["write"],
       "onnx_imported": "onnx" in sys.modules}
t_verify = time.perf_counter()
from edgekit.runtime import Model
m = Model.load(sys.argv[2])
m.run(__import__("numpy").zeros(m.inputs[0].shape, "float32"))
out["verify"] = time.perf_counter() - t_verify
print(json.dumps(out))
"""


def _python(*argv: str) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", *argv], capture_output=True, text=True, timeout=900)
    if done.returncode:
        raise RuntimeError(done.stderr[-2000:])
    return time.perf_counter() - start, done.stdout


def breakdown(src: Path, dst: Path) -> dict[str, float]:
    """The direct writer's stages, timed inside a fresh process."""
    return json.loads(_python(BREAKDOWN, str(src), str(dst))[1].strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", nargs="+", default=MODELS)
    parser.add_argument("--onnx2tf-venv", type=Path, required=True, help="onnx2tf 2.6.9's venv (the base)")
    parser.add_argument("--size", type=int, default=224)
    args = parser.parse_args()

    import torch

    import edgekit as ek
    from edgekit.runtime import Model

    rows, results = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for name in args.models:
            model = bn_ready(name, args.size)
            src = ek.export(
                model, torch.rand(1, 3, args.size, args.size), work / f"{name}.onnx", verify=False
            ).path
            python_start = min(_python("pass")[0] for _ in range(3))
            base = min(run_onnx2tf(args.onnx2tf_venv, src, work / f"o2t_{name}_{i}")[1] for i in range(2))
            direct_cold = min(cold_convert(src, work / f"{name}.direct.tflite") for _ in range(3))
            tf_cold = cold_convert(src, work / f"{name}.tf.tflite", "tf")
            stages = breakdown(src, work / f"{name}.stages.tflite")
            warm = []
            for _ in range(4):
                start = time.perf_counter()
                direct = ek.convert(src, work / f"{name}.direct.tflite", verify=False)
                warm.append(time.perf_counter() - start)
            warm_s = statistics.median(warm[1:])
            via_tf = ek.convert(src, work / f"{name}.tf.tflite", ek.ConvertConfig(verify=False, writer="tf"))
            x = np.random.default_rng(0).random((1, args.size, args.size, 3), dtype=np.float32)
            latency = interleaved(
                {"direct": raw_litert(direct.path, x), "tf": raw_litert(via_tf.path, x)},
                rounds=7,
                calls=5,
                warmup=2,
            )
            a, b = Model.load(direct.path), Model.load(via_tf.path)
            xs = np.random.default_rng(1).random((1, 3, args.size, args.size), dtype=np.float32)
            ya, yb = a.run(xs), b.run(xs)
            cos = float(ya.ravel() @ yb.ravel() / (np.linalg.norm(ya) * np.linalg.norm(yb)))
            results[name] = {
                "direct_cold_s": direct_cold,
                "tf_cold_s": tf_cold,
                "direct_breakdown_s": {"python_start": python_start, **stages},
                "direct_warm_s": warm_s,
                "latency_s": latency,
                "ops_direct": sum(direct.ops.values()),
                "ops_tf": sum(via_tf.ops.values()),
                "delegated_direct": a.delegate_coverage(),
                "delegated_tf": b.delegate_coverage(),
                "cosine_direct_vs_tf": cos,
                "onnx2tf_default_cold_s": base,
            }
            rows.append(
                [
                    name,
                    direct_cold,
                    base,
                    direct_cold / base,
                    warm_s,
                    warm_s / base,
                    tf_cold,
                    python_start,
                    stages["import"],
                    stages["onnx_load"],
                    stages["normalise"],
                    stages["layout"],
                    stages["passes"],
                    stages["write"],
                    stages["verify"],
                    latency["direct"] / latency["tf"],
                    f"{sum(direct.ops.values())}/{sum(via_tf.ops.values())}",
                    cos,
                ]
            )
            print(rows[-1], flush=True)
    headers = [
        "model",
        "cold s",
        "onnx2tf cold s",
        "cold/onnx2tf",
        "warm s",
        "warm/onnx2tf",
        "tf-writer cold s",
        "python start",
        "import",
        "onnx load",
        "normalise",
        "layout",
        "passes",
        "write",
        "verify",
        "latency direct/tf",
        "ops direct/tf",
        "cos direct/tf",
    ]
    print(table(headers, rows))
    print(write("convert_time", {"size": args.size, "results": results}))


if __name__ == "__main__":
    main()
