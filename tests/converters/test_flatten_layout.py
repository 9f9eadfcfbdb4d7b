"""Flattening a spatial map into a Linear (AlexNet/VGG heads) needs no TRANSPOSE: the Linear's weight rows
are permuted into NHWC order instead. Float and int8 (QDQ, per-channel weights) both keep parity."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

import edgekit as ek
from edgekit.demo import load_digits_split
from edgekit.runtime import Model
from edgekit.training import train


class SpatialHead(torch.nn.Module):
    """conv -> ReLU -> flatten of a 4x4 map -> Linear -> ReLU -> Linear, like AlexNet/VGG's classifier;
    the flatten is torch.flatten (ONNX Flatten) or .view (ONNX Reshape)."""

    def __init__(self, use_view: bool) -> None:
        super().__init__()
        self.use_view = use_view
        self.conv = torch.nn.Conv2d(1, 6, 3, padding=1)
        self.pool = torch.nn.MaxPool2d(2)
        self.fc1, self.fc2 = torch.nn.Linear(6 * 4 * 4, 32), torch.nn.Linear(32, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.pool(torch.relu(self.conv(x)))
        y = y.view(y.shape[0], -1) if self.use_view else torch.flatten(y, 1)
        return self.fc2(torch.relu(self.fc1(y)))


def test_flatten_into_linear_has_no_transpose(tmp_path: Path) -> None:
    for use_view in (False, True):
        torch.manual_seed(0)
        model = SpatialHead(use_view).eval()
        result = ek.export(model, torch.rand(1, 1, 8, 8), tmp_path / f"head_{use_view}.tflite")
        assert "TRANSPOSE" not in result.ops, result.ops
        assert result.parity.within(cosine=0.9999, rel_max_abs=1e-3), result.parity.summary()


def test_flatten_feeding_a_non_linear_consumer_is_reordered(tmp_path: Path) -> None:
    class FlatOut(torch.nn.Module):  # the flattened map is the output itself: ONNX (NCHW) order
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.flatten(torch.nn.functional.max_pool2d(x, 2), 1) * 2 + 1

    x = torch.rand(2, 3, 8, 8)
    result = ek.export(FlatOut().eval(), x[:1], tmp_path / "flat.tflite")
    np.testing.assert_allclose(Model.load(result.path)(x.numpy()), FlatOut()(x).numpy(), atol=1e-6)


def test_int8_flatten_into_linear_has_no_transpose_and_keeps_parity(tmp_path: Path) -> None:
    d = load_digits_split()
    torch.manual_seed(0)
    model = train(SpatialHead(False), d.x_train, d.y_train, epochs=3)
    example = torch.from_numpy(d.x_train[:1])
    q = ek.quantize(model, example, calibrate=[d.x_train[:128]]).model
    result = ek.export(q, example, tmp_path / "head_int8.tflite")
    assert result.quantized and "TRANSPOSE" not in result.ops, result.ops
    report = ek.compare(q, result.path, [d.x_test])
    assert report.top1_agreement >= 0.995, report.summary()
    layers = ek.compare(q, result.path, [d.x_test[:8]], per_layer=True)
    assert len(layers.layers) >= 3 and layers.first_divergence is None, layers.layers


def test_qdq_flatten_from_onnxruntime_matches_layer_by_layer(tmp_path: Path, ort_quantize_static) -> None:
    """ORT's quantize_static puts Q/DQ on the Reshape output: the per-layer report must compare the
    TFLite file's NHWC-flattened tensor in ONNX's order (no false divergence)."""
    torch.manual_seed(0)
    fp32 = ek.export(SpatialHead(True).eval(), torch.rand(1, 1, 8, 8), tmp_path / "fp32.onnx").path
    rng = np.random.default_rng(0)
    qdq = ort_quantize_static(fp32, tmp_path / "qdq.onnx", (1, 1, 8, 8), 16, rng)
    tfl = ek.convert(qdq, tmp_path / "qdq.tflite")
    assert "TRANSPOSE" not in tfl.ops, tfl.ops
    x = rng.random((4, 1, 8, 8), dtype=np.float32)
    report = ek.compare(qdq, tfl.path, [x], per_layer=True)
    flat = [layer for layer in report.layers if layer.shape == (1, 96)]
    assert flat and report.first_divergence is None, report.layers
