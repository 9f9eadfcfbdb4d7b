"""Bring your own ONNX: files written by the exporters users have, converted to fp32 TFLite by edgekit.

Sources (random weights, nothing downloaded, small inputs):
* ``ts11`` / ``ts13`` / ``ts17``: PyTorch's TorchScript exporter (``torch.onnx.export(..., dynamo=False)``)
  at opsets 11, 13 and 17 over torchvision models; ``ts17`` also over timm models;
* ``dynamo``: PyTorch's dynamo exporter (``torch.onnx.export(..., dynamo=True)``), torchvision and timm;
* ``tf2onnx``: Keras applications (``weights=None``) through ``tf2onnx.convert.from_function``;
* ``hf``: Hugging Face ``transformers`` models built from small configs (text encoders, vision
  transformers, speech encoders), TorchScript exporter at opset 17 (what ``optimum`` uses), a few with
  dynamo (``hf-dynamo``).

Parity is the .tflite (LiteRT) against the ONNX file itself (ONNX Runtime) on one random input (token ids
inside the vocabulary, an all-ones attention mask): cosine >= 0.9999 and max abs <= 1e-3 x output range,
the same bar as ``coverage.py``. A failure records the error, which names the node and op.

Resumable: rows accumulate in benchmarks/results/onnx_sources.json; done rows are skipped unless --redo.
Each file is made and converted in a fresh process. Needs the ``bench`` extra (transformers, timm, tf2onnx).

    nice -n 10 python benchmarks/onnx_sources.py [--only hf/bert ts11/resnet18] [--redo]
"""

from __future__ import annotations

import argparse
import gc
import json
import multiprocessing
import re
import resource
import subprocess
import tempfile
import time
import traceback
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

import numpy as np
from _common import RESULTS, table, write

SIZE = 128  # image side for convnets (transformers with fixed patch grids use 224)
MAX_PARAMS_MB = 300
TORCHVISION = [
    "resnet18",
    "mobilenet_v2",
    "mobilenet_v3_small",
    "efficientnet_b0",
    "squeezenet1_1",
    "shufflenet_v2_x0_5",
    "mnasnet0_5",
    "regnet_y_400mf",
    "densenet121",
    "convnext_tiny",
]
DYNAMO_TORCHVISION = [*TORCHVISION[:4], "shufflenet_v2_x0_5", "regnet_y_400mf", "convnext_tiny", "swin_t"]
TIMM = [
    "resnet10t",
    "mobilenetv3_small_050",
    "efficientnet_lite0",
    "convnext_atto",
    "deit_tiny_patch16_224",
    "mobilevit_xxs",
]
KERAS = [
    "MobileNetV2",
    "MobileNetV3Small",
    "ResNet50",
    "EfficientNetB0",
    "DenseNet121",
    "Xception",
    "InceptionV3",
    "ConvNeXtTiny",
]
HF = [
    "bert",
    "distilbert",
    "roberta",
    "albert",
    "electra",
    "mobilebert",
    "vit",
    "deit",
    "convnext",
    "wav2vec2",
    "whisper_encoder",
    "hubert",
]
HF_DYNAMO = ["bert", "vit", "wav2vec2", "whisper_encoder"]
IMAGE_224 = {"swin_t", "deit_tiny_patch16_224", "vit", "deit"}
VOCAB = 1000
SEQ = 32


def cases() -> list[tuple[str, str]]:
    out = [(f"ts{opset}", name) for opset in (11, 13, 17) for name in TORCHVISION]
    out += [("ts17", name) for name in TIMM]
    out += [("dynamo", name) for name in DYNAMO_TORCHVISION + TIMM]
    out += [("tf2onnx", name) for name in KERAS]
    out += [("hf", name) for name in HF]
    out += [("hf-dynamo", name) for name in HF_DYNAMO]
    return out


# -- building the ONNX files --------------------------------------------------------------------------
def _torch_vision_model(name: str) -> Any:
    import timm
    import torch
    import torchvision

    torch.manual_seed(0)
    if name in TIMM:
        model = timm.create_model(name, pretrained=False)
    else:
        model = torchvision.models.get_model(name, weights=None)
    model.train()  # BatchNorm statistics from a few batches: untrained nets otherwise output ~1e-9
    side = 224 if name in IMAGE_224 else SIZE
    with torch.no_grad():
        for _ in range(2):
            model(torch.rand(2, 3, side, side))
    return model.eval(), (torch.rand(1, 3, side, side),), ["image"]


def _hidden(inner: Any) -> Any:
    """``inner`` (a transformers model) as a module taking tensors and returning ``last_hidden_state``."""
    import torch

    class Hidden(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, *args: Any) -> Any:
            return self.inner(*args).last_hidden_state

    return Hidden()


def _hf_model(name: str) -> Any:
    import torch
    import transformers as tr

    torch.manual_seed(0)
    text = {"hidden_size": 128, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 256}
    text_cfg = {**text, "vocab_size": VOCAB, "max_position_embeddings": 128}
    eager = {"attn_implementation": "eager"}
    if name in ("bert", "roberta", "electra", "albert", "mobilebert", "distilbert"):
        config: Any
        if name == "distilbert":
            config = tr.DistilBertConfig(vocab_size=VOCAB, dim=128, n_layers=2, n_heads=2, hidden_dim=256)
        elif name == "mobilebert":
            config = tr.MobileBertConfig(**text_cfg, embedding_size=64, intra_bottleneck_size=64)
        elif name == "albert":
            config = tr.AlbertConfig(**text_cfg, embedding_size=64)
        else:
            config = {"bert": tr.BertConfig, "roberta": tr.RobertaConfig, "electra": tr.ElectraConfig}[name](
                **text_cfg
            )
        model = tr.AutoModel.from_config(config, **eager)
        ids = torch.randint(3, VOCAB, (1, SEQ))
        return (
            _hidden(model.eval()),
            (ids, torch.ones(1, SEQ, dtype=torch.int64)),
            ["input_ids", "attention_mask"],
        )
    if name in ("vit", "deit"):
        cls = tr.ViTConfig if name == "vit" else tr.DeiTConfig
        model = tr.AutoModel.from_config(cls(**text, image_size=224, patch_size=16), **eager)
        return _hidden(model.eval()), (torch.rand(1, 3, 224, 224),), ["pixel_values"]
    if name == "convnext":
        config = tr.ConvNextConfig(hidden_sizes=[32, 64, 128, 256], depths=[1, 1, 2, 1])
        return _hidden(tr.ConvNextModel(config).eval()), (torch.rand(1, 3, SIZE, SIZE),), ["pixel_values"]
    if name in ("wav2vec2", "hubert"):
        cls = tr.Wav2Vec2Config if name == "wav2vec2" else tr.HubertConfig
        config = cls(**text, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4)
        model = tr.AutoModel.from_config(config, **eager)
        return _hidden(model.eval()), (torch.randn(1, 8000),), ["input_values"]
    if name == "whisper_encoder":
        config = tr.WhisperConfig(
            d_model=128,
            encoder_layers=2,
            encoder_attention_heads=2,
            encoder_ffn_dim=256,
            num_mel_bins=80,
            max_source_positions=100,
            **eager,
        )
        encoder = tr.models.whisper.modeling_whisper.WhisperEncoder(config)
        return _hidden(encoder.eval()), (torch.randn(1, 80, 200),), ["input_features"]
    raise ValueError(name)


def _torch_onnx(source: str, name: str, path: Path) -> dict[str, np.ndarray]:
    import torch

    model, args, names = _hf_model(name) if source.startswith("hf") else _torch_vision_model(name)
    params_mb = sum(p.numel() * 4 for p in model.parameters()) / 2**20
    if params_mb > MAX_PARAMS_MB:
        raise _TooLarge(f"{params_mb:.0f} MB of fp32 weights (over {MAX_PARAMS_MB} MB)")
    dynamo = source in ("dynamo", "hf-dynamo")
    opset = 18 if dynamo else (17 if source == "hf" else int(source[2:]))
    kwargs: dict[str, Any] = {"dynamo": dynamo, "opset_version": opset, "input_names": names}
    if dynamo:
        kwargs["external_data"] = False
    with torch.no_grad():
        torch.onnx.export(model, args, str(path), **kwargs)
    return {n: a.numpy() for n, a in zip(names, args, strict=True)}


def _keras_onnx(name: str, path: Path) -> dict[str, np.ndarray]:
    import tensorflow as tf
    import tf2onnx

    tf.keras.utils.set_random_seed(0)
    side = 96 if name not in ("Xception", "InceptionV3") else 128
    app = getattr(tf.keras.applications, name)
    kwargs: dict[str, Any] = {"input_shape": (side, side, 3), "weights": None}
    if name not in ("DenseNet121", "Xception", "InceptionV3", "ResNet50"):
        kwargs["classifier_activation"] = None
    model = app(**kwargs)
    spec = (tf.TensorSpec((1, side, side, 3), tf.float32, name="input"),)

    @tf.function(input_signature=spec)
    def forward(x: Any) -> Any:
        return model(x, training=False)

    tf2onnx.convert.from_function(forward, input_signature=spec, opset=15, output_path=str(path))
    return {"input": np.random.default_rng(0).random((1, side, side, 3), dtype=np.float32) * 255}


class _TooLarge(Exception):
    pass


# -- one file ---------------------------------------------------------------------------------------------
def _parity(onnx_path: Path, tflite_path: Path, feeds: dict[str, np.ndarray]) -> dict[str, Any]:
    import onnxruntime as ort

    from edgekit.runtime import Model

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    onnx_names = [i.name for i in session.get_inputs()]
    feeds = (
        {n: feeds[n] for n in onnx_names}
        if set(onnx_names) <= set(feeds)
        else dict(zip(onnx_names, feeds.values(), strict=True))
    )
    expected = session.run(None, feeds)
    got = Model.load(tflite_path).run(feeds)
    got = got if isinstance(got, list) else [got]
    cosines, max_abs, ranges = [], 0.0, 0.0
    for g, e in zip(got, expected, strict=True):
        a, b = np.asarray(g, np.float64).reshape(-1), np.asarray(e, np.float64).reshape(-1)
        denom = np.linalg.norm(a) * np.linalg.norm(b)
        cosines.append(float(a @ b / denom) if denom else float(np.array_equal(a, b)))
        max_abs = max(max_abs, float(np.abs(a - b).max()))
        ranges = max(ranges, float(b.max() - b.min()))
    cosine = min(cosines)
    return {
        "cosine": cosine,
        "max_abs": max_abs,
        "output_range": ranges,
        "parity": bool(cosine >= 0.9999 and max_abs <= 1e-3 * max(ranges, 1e-12)),
    }


def first_unsupported(error: str) -> str:
    """The op an error names: 'ONNX ops not supported ...: Foo x2', 'ONNX op Foo (node ...)', 'Foo node ...'."""
    for pattern in (
        r"not supported by the TFLite translator[^:]*:\s*(\S+) x\d",
        r"ONNX op (\w+)",
        r"(\w+) node '",
    ):
        match = re.search(pattern, error)
        if match:
            return match.group(1)
    return ""


def one(source: str, name: str, folder: Path) -> dict[str, Any]:
    import onnx

    import edgekit as ek

    row: dict[str, Any] = {"source": source, "model": name}
    onnx_path, tflite_path = folder / f"{name}.onnx", folder / f"{name}.tflite"
    try:
        t0 = time.perf_counter()
        try:
            feeds = (
                _keras_onnx(name, onnx_path) if source == "tf2onnx" else _torch_onnx(source, name, onnx_path)
            )
        except _TooLarge as exc:
            row.update(status="too large", error=str(exc))
            return row
        except Exception as exc:  # the exporter itself failed: not a converter result
            row.update(
                status="export failed", error=f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
            )
            return row
        row["export_s"] = time.perf_counter() - t0
        proto = onnx.load(str(onnx_path), load_external_data=False)
        row["onnx_ops"] = len(proto.graph.node)
        row["onnx_op_types"] = sorted({n.op_type for n in proto.graph.node})
        initializers = {i.name for i in proto.graph.initializer}
        graph_inputs = [i.name for i in proto.graph.input if i.name not in initializers]
        if len(graph_inputs) > len(feeds):  # e.g. tf2onnx turning a captured variable into an input
            row.update(
                status="export failed", error=f"the file has inputs the model does not take: {graph_inputs}"
            )
            return row
        t0 = time.perf_counter()
        result = ek.convert(onnx_path, tflite_path, ek.ConvertConfig(verify=False))
        row["convert_s"] = time.perf_counter() - t0
        row["tflite_ops"] = sum(result.ops.values())
        row.update(_parity(onnx_path, tflite_path, feeds))
        row["status"] = "ok" if row["parity"] else "parity"
    except Exception as exc:
        row["status"] = "failed"
        row["error"] = f"{type(exc).__name__}: {' '.join(str(exc).split())[:400]}"
        row["unsupported"] = first_unsupported(row["error"])
        row["trace"] = traceback.format_exc(limit=3)[-600:]
    finally:
        row["peak_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
        for p in folder.iterdir():
            p.unlink()
        gc.collect()
    return row


def isolated(source: str, name: str, folder: Path) -> dict[str, Any]:
    """``one`` in a fresh process (memory returned between files; a crash is recorded, not fatal)."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=context, initializer=_threads) as pool:
        try:
            return pool.submit(one, source, name, folder).result()
        except BrokenProcessPool:
            return {"source": source, "model": name, "status": "failed", "error": "the worker process died"}


def _threads() -> None:
    import torch

    torch.set_num_threads(2)


def _row(r: dict[str, Any]) -> list[Any]:
    return [
        r["source"],
        r["model"],
        r.get("onnx_ops", ""),
        f"{r['convert_s']:.1f}" if "convert_s" in r else "",
        f"{r['cosine']:.7f}" if "cosine" in r else "",
        f"{r['max_abs']:.2e}" if "max_abs" in r else "",
        r.get("unsupported", "") or "",
        r["status"] if r["status"] in ("ok", "parity") else f"{r['status']}: {r.get('error', '')[:90]}",
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", nargs="*", help="source/model keys, e.g. hf/bert ts11/resnet18")
    parser.add_argument("--redo", action="store_true")
    args = parser.parse_args()
    path = RESULTS / "onnx_sources.json"
    done: dict[str, dict[str, Any]] = {}
    if path.exists():
        done = {f"{r['source']}/{r['model']}": r for r in json.loads(path.read_text())["results"]}
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=Path(__file__).parent
    ).stdout.strip()
    wanted = [f"{s}/{m}" for s, m in cases()]
    selected = [k for k in args.only if k in wanted] if args.only else wanted  # --only: in the order given
    with tempfile.TemporaryDirectory() as tmp:
        for key in selected:
            if key in done and not args.redo:
                continue
            source, name = key.split("/")
            done[key] = {**isolated(source, name, Path(tmp)), "commit": commit}
            rows = [done[k] for k in wanted if k in done]
            write("onnx_sources", {"results": rows, "summary": summary(rows)})
            print(f"{key}: {done[key]['status']} {done[key].get('error', '')[:160]}", flush=True)
    rows = [done[k] for k in wanted if k in done]
    print(
        table(
            [
                "source",
                "model",
                "ONNX ops",
                "convert s",
                "fp32 cosine",
                "max abs",
                "first unsupported op",
                "status",
            ],
            [_row(r) for r in rows],
        )
    )
    print(summary(rows))


def summary(rows: list[dict[str, Any]]) -> str:
    converted = [r for r in rows if r["status"] in ("ok", "parity", "failed")]
    ok = sum(r["status"] == "ok" for r in converted)
    skipped = len(rows) - len(converted)
    return (
        f"{ok} of {len(converted)} ONNX files convert with parity ({100 * ok / max(len(converted), 1):.1f}%); "
        f"{skipped} not made (exporter failed or over {MAX_PARAMS_MB} MB)"
    )


if __name__ == "__main__":
    main()
