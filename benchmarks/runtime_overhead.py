"""Wrapper overhead: edgekit.runtime.Model.__call__ vs the raw interpreters, same process, interleaved.

Goals (issue 2): wrapper/raw <= 1.02 on a MobileNetV2-sized model, extra time <= 20 us per call on a tiny
model. The wrapper is fed NCHW (as users do) and transposes for the NHWC .tflite; the raw interpreter is
fed NHWC prepared outside the loop, so the transposition is counted against edgekit.

    python benchmarks/runtime_overhead.py
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import torch
from _common import bn_ready, interleaved, raw_litert, table, write

import edgekit as ek
from edgekit.demo import DigitsCNN
from edgekit.runtime import Model


def raw_ort(path: Path, x: np.ndarray):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda: session.run(None, {name: x})


def main() -> None:
    torch.set_num_threads(1)
    cases = {
        "mobilenet_v2 224": (bn_ready("mobilenet_v2", 224), (1, 3, 224, 224), 6, 5),
        "tiny DigitsCNN 8x8": (DigitsCNN(widths=(8, 16, 16)).eval(), (1, 1, 8, 8), 25, 400),
    }
    rows, results = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, (model, shape, rounds, calls) in cases.items():
            x = torch.rand(shape)
            tfl = ek.export(model, x, Path(tmp) / "m.tflite").path
            onx = ek.export(model, x, Path(tmp) / "m.onnx").path
            xn = x.numpy()
            wrapped_t, wrapped_o = Model.load(tfl, threads=1), Model.load(onx, threads=1)
            out_t = wrapped_t._backend.run([wrapped_t._encode(wrapped_t._in[0], xn, False)])[0]
            out_o = wrapped_o._backend.run([wrapped_o._encode(wrapped_o._in[0], xn, False)])[0]

            def work(w: Model, out: np.ndarray, xn: np.ndarray = xn) -> None:
                """The wrapper's own work without the inference: input checks/layout, output decoding."""
                w._encode(w._in[0], w._arrange(xn)[0], False)
                w._decode(w._out[0], out, False)

            times = interleaved(
                {
                    "litert raw": raw_litert(tfl, np.ascontiguousarray(xn.transpose(0, 2, 3, 1))),
                    "litert Model": lambda w=wrapped_t, xn=xn: w(xn),
                    "litert work": lambda w=wrapped_t, o=out_t: work(w, o),
                    "ort raw": raw_ort(onx, xn),
                    "ort Model": lambda w=wrapped_o, xn=xn: w(xn),
                    "ort work": lambda w=wrapped_o, o=out_o: work(w, o),
                },
                rounds=rounds,
                calls=calls,
            )
            for backend in ("litert", "ort"):
                raw, wrapped, extra = (
                    times[f"{backend} raw"],
                    times[f"{backend} Model"],
                    times[f"{backend} work"],
                )
                rows.append(
                    [
                        label,
                        backend,
                        raw * 1e3,
                        wrapped * 1e3,
                        wrapped / raw,
                        (wrapped - raw) * 1e6,
                        extra * 1e6,
                        (raw + extra) / raw,
                    ]
                )
                results[f"{label}/{backend}"] = {
                    "raw_ms": raw * 1e3,
                    "model_ms": wrapped * 1e3,
                    "ratio": wrapped / raw,
                    "extra_us": (wrapped - raw) * 1e6,
                    "wrapper_work_us": extra * 1e6,
                    "ratio_from_work": (raw + extra) / raw,
                }
    print(
        table(
            [
                "model",
                "backend",
                "raw ms",
                "Model ms",
                "ratio",
                "extra us",
                "wrapper work us",
                "(raw+work)/raw",
            ],
            rows,
        )
    )
    print(f"\nwrote {write('runtime_overhead', {'results': results})}")


if __name__ == "__main__":
    main()
