"""PRelu (MTCNN's activation): TFLite PRELU with the slope laid out for the NHWC map, LEAKY_RELU for one
slope; int8 end to end from ``ek.quantize`` (the quantizer annotates prelu, so no float island), the
slope keeping its ONNX scale; XNNPACK takes the float PRELU and leaves the int8 one to LiteRT's kernel;
pretrained MTCNN RNet (slow) keeps its face / non-face decision in int8."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch

import edgekit as ek
from edgekit.runtime import Model


class PReLUNet(torch.nn.Module):
    """Conv -> per-channel PReLU twice, Linear -> one-slope PReLU, Linear (the MTCNN RNet shape)."""

    def __init__(self) -> None:
        super().__init__()
        self.c1, self.p1 = torch.nn.Conv2d(3, 8, 3), torch.nn.PReLU(8)
        self.c2, self.p2 = torch.nn.Conv2d(8, 8, 3), torch.nn.PReLU(8)
        self.fc, self.p3 = torch.nn.Linear(8 * 4 * 4, 16), torch.nn.PReLU()
        self.out = torch.nn.Linear(16, 2)
        with torch.no_grad():
            for p in (self.p1, self.p2, self.p3):
                p.weight.uniform_(0.05, 0.6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.p2(self.c2(self.p1(self.c1(x))))
        return self.out(self.p3(self.fc(x.flatten(1))))


def _run(path: Path, x: np.ndarray) -> np.ndarray:
    model = Model.load(path)
    return np.concatenate([model.run(x[i : i + 1]) for i in range(len(x))])


def test_fp32_prelu_matches_pytorch_and_runs_in_xnnpack(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = PReLUNet().eval()
    x = torch.randn(8, 3, 8, 8)
    result = ek.export(model, x[:1], tmp_path / "m.tflite")
    assert result.ops.get("PRELU") == 2 and result.ops.get("LEAKY_RELU") == 1, result.ops
    assert "TRANSPOSE" not in result.ops
    with torch.no_grad():
        expected = model(x).numpy()
    np.testing.assert_allclose(_run(result.path, x.numpy()), expected, rtol=1e-5, atol=1e-5)
    assert Model.load(result.path).delegate_coverage()["fallback_op_types"] == {}


def test_int8_prelu_runs_int8_with_the_onnx_slope_scale(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = PReLUNet().eval()
    x = torch.randn(64, 3, 8, 8)
    q = ek.quantize(model, x[:1], calibrate=[x[:32], x[32:]]).model
    onnx_path = ek.export(q, x[:1], tmp_path / "q.onnx", verify=False).path
    result = ek.convert(onnx_path, tmp_path / "q.tflite")
    assert result.ops.get("PRELU") == 2 and "DEQUANTIZE" not in result.ops and "QUANTIZE" not in result.ops
    assert not [n for n in result.notes if "runs in float" in n], result.notes

    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(result.path))
    slopes = [
        t
        for t in interpreter.get_tensor_details()
        if t["dtype"] == np.int8 and list(t["shape"]) == [8] and t["quantization_parameters"]["scales"].size
    ]
    assert len(slopes) == 2
    for t in slopes:  # symmetric per tensor, as PyTorch quantized it (not requantized by the writer)
        assert t["quantization_parameters"]["zero_points"].tolist() == [0]

    xs = x.numpy()
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    reference = np.concatenate([session.run(None, {name: xs[i : i + 1]})[0] for i in range(len(xs))])
    got = _run(result.path, xs)
    output_scale = float(Interpreter(model_path=str(result.path)).get_output_details()[0]["quantization"][0])
    # LiteRT's fixed-point PRELU rounds differently from ONNX Runtime's float QDQ: a few output steps
    assert np.abs(got - reference).max() <= 4 * max(output_scale, 1e-3)
    with torch.no_grad():
        fp32 = model(x).numpy()
    cosine = (got * fp32).sum() / (np.linalg.norm(got) * np.linalg.norm(fp32))
    assert cosine > 0.99
    # XNNPACK has no int8 PRELU: those nodes run in LiteRT's own int8 kernel, everything else delegated
    assert Model.load(result.path).delegate_coverage()["fallback_op_types"] == {"PRELU": 2}


def test_tensorflow_writer_fuses_prelu_too(tmp_path: Path) -> None:
    """writer="tf" (and so TFLite's own PTQ) spells PRelu the Keras way, which TF's converter fuses."""
    pytest.importorskip("tensorflow")
    torch.manual_seed(0)
    model = PReLUNet().eval()
    x = torch.randn(4, 3, 8, 8)
    src = ek.export(model, x[:1], tmp_path / "m.onnx", verify=False).path
    result = ek.convert(src, tmp_path / "t.tflite", ek.ConvertConfig(writer="tf", verify=False))
    assert result.ops.get("PRELU") == 2 and "NEG" not in result.ops, result.ops
    with torch.no_grad():
        expected = model(x).numpy()
    np.testing.assert_allclose(_run(result.path, x.numpy()), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.slow
def test_pretrained_mtcnn_rnet_int8_keeps_the_face_decision(tmp_path: Path) -> None:
    pytest.importorskip("facenet_pytorch")
    pytest.importorskip("skimage")
    from edgekit.demo.photos import face_crops
    from edgekit.demo.pretrained import load_pretrained

    model, spec = load_pretrained("mtcnn_rnet")
    x_eval, _ = face_crops(spec.size, seed=1, mean=spec.mean, std=spec.std)
    x_cal, _ = face_crops(spec.size, seed=2, mean=spec.mean, std=spec.std)
    example = torch.from_numpy(x_cal[:1])
    config = ek.QuantConfig(calibrator="minmax", bias_correction=False)
    q = ek.quantize(model, example, config, calibrate=[x_cal[:64]]).model
    result = ek.export(q, example, tmp_path / "rnet_int8.tflite")
    assert result.ops.get("PRELU") == 4 and not [n for n in result.notes if "runs in float" in n]
    tflite = Model.load(result.path)
    got = np.concatenate([tflite.run(x_eval[i : i + 1])[spec.output] for i in range(len(x_eval))])
    with torch.no_grad():
        fp32 = model(torch.from_numpy(x_eval))[spec.output].numpy()
    assert (got.argmax(1) == fp32.argmax(1)).mean() >= 0.99
