"""A model whose constants exceed FlatBuffers' 2 GiB limit, converted with the direct writer.

The ONNX file is synthetic (a chain of fully connected layers with ``--gib`` of fp32 weights, written
straight to an external-data file so the script never holds two copies), converted with ``ek.convert``
(the direct writer puts the weights after the flatbuffer, ``Buffer.offset`` / ``Buffer.size``, streamed
from the memory-mapped side file), then run
by LiteRT (XNNPACK) and compared with ONNX Runtime on the same file. Each step runs in its own process
so one step's memory is returned before the next; the peak resident memory of each is recorded.

    python benchmarks/over_2gib.py [--gib 2.2] [--width 8192]
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from _common import isolated, table, write


def build_onnx(name: str, folder: Path, gib: float, width: int) -> dict:
    """``layers`` Gemm + Relu layers of ``width x width`` weights, their data in ``<name>.onnx.data``."""
    import onnx
    from onnx import TensorProto, helper

    layers = max(1, round(gib * 2**30 / (width * width * 4)))
    rng = np.random.default_rng(0)
    data_name = f"{name}.onnx.data"
    initializers, nodes = [], []
    offset = 0
    with open(folder / data_name, "wb") as data_file:
        for i in range(layers):
            weight = rng.standard_normal((width, width), dtype=np.float32) * np.float32(1.4 / np.sqrt(width))
            data_file.write(weight.tobytes())
            tensor = TensorProto(name=f"w{i}", data_type=TensorProto.FLOAT, dims=[width, width])
            tensor.data_location = TensorProto.EXTERNAL
            for key, value in (("location", data_name), ("offset", offset), ("length", weight.nbytes)):
                tensor.external_data.add(key=key, value=str(value))
            offset += weight.nbytes
            initializers.append(tensor)
            bias = helper.make_tensor(f"b{i}", TensorProto.FLOAT, [width], rng.standard_normal(width) * 0.01)
            initializers.append(bias)
            source = "x" if i == 0 else f"r{i - 1}"
            nodes.append(helper.make_node("Gemm", [source, f"w{i}", f"b{i}"], [f"g{i}"], transB=1))
            nodes.append(helper.make_node("Relu", [f"g{i}"], [f"r{i}"]))
    graph = helper.make_graph(
        nodes,
        "over_2gib",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, width])],
        [helper.make_tensor_value_info(f"r{layers - 1}", TensorProto.FLOAT, [1, width])],
        initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    onnx.save_model(model, str(folder / f"{name}.onnx"))
    return {"layers": layers, "weight_gib": offset / 2**30}


def _peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


class AnonPeak:
    """Peak anonymous resident memory (``RssAnon``) sampled every 20 ms: ``ru_maxrss`` also counts the
    pages of the ONNX side file that the converter maps (page cache the kernel can drop), this does not."""

    def __init__(self) -> None:
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            for line in Path("/proc/self/status").read_text().splitlines():
                if line.startswith("RssAnon:"):
                    self.peak = max(self.peak, int(line.split()[1]) / 2**20)

    def __enter__(self) -> AnonPeak:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def run_onnxruntime(name: str, folder: Path, width: int) -> dict:
    import onnxruntime as ort

    x = np.random.default_rng(1).standard_normal((1, width), dtype=np.float32)
    session = ort.InferenceSession(str(folder / f"{name}.onnx"), providers=["CPUExecutionProvider"])
    np.save(folder / "reference.npy", session.run(None, {"x": x})[0])
    return {"peak_gib": _peak_gib()}


def convert(name: str, folder: Path) -> dict:
    import edgekit as ek

    start = time.perf_counter()
    with AnonPeak() as anon:
        result = ek.convert(
            folder / f"{name}.onnx", folder / f"{name}.tflite", ek.ConvertConfig(verify=False)
        )
    return {
        "convert_s": time.perf_counter() - start,
        "file_gib": result.size_bytes / 2**30,
        "ops": sum(result.ops.values()),
        "peak_gib": _peak_gib(),
        "anon_peak_gib": anon.peak,
    }


def run_litert(name: str, folder: Path, width: int) -> dict:
    from edgekit.runtime import Model

    x = np.random.default_rng(1).standard_normal((1, width), dtype=np.float32)
    start = time.perf_counter()
    model = Model.load(folder / f"{name}.tflite", backend="litert")
    load_s = time.perf_counter() - start
    out = model(x)[0].reshape(-1)
    reference = np.load(folder / "reference.npy").reshape(-1)
    cosine = float(out @ reference / (np.linalg.norm(out) * np.linalg.norm(reference)))
    return {
        "load_s": load_s,
        "delegate": model.delegate,
        "cosine": cosine,
        "max_abs": float(np.abs(out - reference).max()),
        "output_range": float(reference.max() - reference.min()),
        "peak_gib": _peak_gib(),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--gib", type=float, default=2.2)
    parser.add_argument("--width", type=int, default=8192)
    args = parser.parse_args()
    name = "over_2gib"
    with tempfile.TemporaryDirectory(dir=Path(__file__).resolve().parent) as tmp:
        folder = Path(tmp)
        steps = {
            "build": isolated(build_onnx, name, folder, args.gib, args.width),
            "onnxruntime": isolated(run_onnxruntime, name, folder, args.width),
            "convert": isolated(convert, name, folder),
            "litert": isolated(run_litert, name, folder, args.width),
        }
    write("over_2gib", {"gib": args.gib, "width": args.width, "steps": steps})
    c, r = steps["convert"], steps["litert"]
    print(
        table(
            [
                "weights GiB",
                "layers",
                "file GiB",
                "TFLite ops",
                "convert s",
                "convert peak GiB",
                "convert anon peak GiB",
                "LiteRT load s",
                "delegate",
                "LiteRT peak GiB",
                "cosine vs ORT",
                "max abs",
                "output range",
            ],
            [
                [
                    steps["build"].get("weight_gib"),
                    steps["build"].get("layers"),
                    c.get("file_gib"),
                    c.get("ops"),
                    c.get("convert_s"),
                    c.get("peak_gib"),
                    c.get("anon_peak_gib"),
                    r.get("load_s"),
                    r.get("delegate"),
                    r.get("peak_gib"),
                    r.get("cosine"),
                    r.get("max_abs"),
                    r.get("output_range"),
                ]
            ],
        )
    )
    for step, row in steps.items():
        if "error" in row:
            print(f"{step}: {row['error']}")


if __name__ == "__main__":
    main()
