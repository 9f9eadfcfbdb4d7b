"""ek.export / ek.convert on real torchvision architectures: parity, layout, metadata, one artifact."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision

import edgekit as ek
from edgekit.runtime import Model


def _bn_ready(name: str, size: int, **kwargs) -> torch.nn.Module:
    """An untrained torchvision model with BatchNorm statistics re-estimated on random inputs."""
    torch.manual_seed(0)
    model = torchvision.models.get_model(name, weights=None, **kwargs).train()
    with torch.no_grad():
        for _ in range(2):
            model(torch.rand(4, 3, size, size))
    return model.eval()


@pytest.mark.parametrize(
    "name",
    [
        "resnet18",
        "mobilenet_v2",
        "mobilenet_v3_small",
        "efficientnet_b0",
        "shufflenet_v2_x0_5",
        "squeezenet1_1",
    ],
)
def test_torchvision_classifier_to_tflite_with_parity_and_no_transpose(name: str, tmp_path: Path) -> None:
    model = _bn_ready(name, 64, num_classes=10)
    x = torch.rand(1, 3, 64, 64)
    result = ek.export(model, x, tmp_path / f"{name}.tflite")
    assert result.format == "tflite" and not result.quantized
    assert result.parity is not None and result.parity.within(cosine=0.9999, rel_max_abs=1e-3), (
        result.parity.summary()
    )
    if name != "shufflenet_v2_x0_5":  # channel shuffle is a real transpose in the model
        assert "TRANSPOSE" not in result.ops, result.ops
    assert [p.name for p in tmp_path.iterdir()] == [f"{name}.tflite"]  # one artifact, no temp left
    runtime = Model.load(result.path)
    assert runtime.inputs[0].shape == (1, 3, 64, 64) and runtime.inputs[0].file_shape == (1, 64, 64, 3)
    xs = torch.rand(3, 3, 64, 64)
    np.testing.assert_allclose(runtime(xs.numpy()), model(xs).detach().numpy(), atol=2e-4)


def test_segmentation_model_output_keeps_nchw_for_the_user(tmp_path: Path) -> None:
    model = _bn_ready("lraspp_mobilenet_v3_large", 64, num_classes=3, weights_backbone=None)

    class OutOnly(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = model

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.inner(x)["out"]

    wrapped = OutOnly().eval()
    result = ek.export(wrapped, torch.rand(1, 3, 64, 64), tmp_path / "seg.tflite")
    runtime = Model.load(result.path)
    assert runtime.outputs[0].shape == (1, 3, 64, 64) and runtime.outputs[0].file_shape == (1, 64, 64, 3)
    assert result.parity.within(cosine=0.9999, rel_max_abs=1e-3), result.parity.summary()


def test_onnx_export_is_one_verified_self_contained_file(tmp_path: Path) -> None:
    import onnx

    model = _bn_ready("resnet18", 32, num_classes=10)
    result = ek.export(model, torch.rand(1, 3, 32, 32), tmp_path / "r18.onnx")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r18.onnx"]
    proto = onnx.load(str(result.path))
    assert next(o.version for o in proto.opset_import if o.domain == "") == 18
    assert any(p.key == "edgekit" for p in proto.metadata_props)
    batch = proto.graph.input[0].type.tensor_type.shape.dim[0]
    assert batch.dim_param, "the batch dimension is dynamic"
    assert result.parity.max_abs < 1e-4


def test_convert_float_onnx_with_calibration_gives_full_int8(onnx_file: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    calib = [rng.random((8, 1, 8, 8), dtype=np.float32) for _ in range(4)]
    result = ek.convert(onnx_file, tmp_path / "int8.tflite", tflite_calibration=calib)
    runtime = Model.load(result.path)
    assert (
        result.quantized
        and runtime.inputs[0].file_dtype == np.int8
        and runtime.outputs[0].file_dtype == np.int8
    )
    assert result.parity.top1_agreement >= 0.5 and result.parity.cosine_min > 0.99


def test_convert_float_onnx_stays_float(onnx_file: Path, tmp_path: Path) -> None:
    result = ek.convert(onnx_file, tmp_path / "fp32.tflite")
    assert not result.quantized and result.parity.within()
    assert Model.load(result.path).inputs[0].file_dtype == np.float32


def test_compare_reports_the_metrics(onnx_file: Path, tflite_file: Path, small_cnn) -> None:
    x = np.random.default_rng(0).random((6, 1, 8, 8), dtype=np.float32)
    report = ek.compare(small_cnn, tflite_file, [x[:3], x[3:]])
    assert report.n == 6 and report.top1_agreement == 1.0 and report.cosine_min > 0.9999
    report = ek.compare(onnx_file, tflite_file, x)
    assert report.max_abs < 1e-4 and set(report.to_dict()) >= {
        "max_abs",
        "mean_abs",
        "cosine_min",
        "top1_agreement",
        "n",
    }


def test_gelu_erf_converts_with_parity(tmp_path: Path) -> None:
    class GeluNet(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc1, self.fc2 = torch.nn.Linear(16, 32), torch.nn.Linear(32, 4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc2(torch.nn.functional.gelu(self.fc1(x) * 3))

    torch.manual_seed(0)
    result = ek.export(GeluNet().eval(), torch.randn(1, 16), tmp_path / "gelu.tflite")
    assert result.parity.within(cosine=0.9999, rel_max_abs=1e-3), result.parity.summary()
    assert result.ops.get("GELU") == 1, result.ops  # the spelled-out x*0.5*(1+erf(x/sqrt2)) is fused
