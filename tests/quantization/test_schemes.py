"""Quantization schemes (``QuantConfig(scheme=...)``): int16x8, float16 and dynamic-range int8 written by
the direct writer, checked on real trained models for tensor types, parity and that LiteRT runs them."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import edgekit as ek
from edgekit.demo import DigitsData
from edgekit.errors import ConversionError, DelegateUnavailableError, QuantizationError
from edgekit.recipes.stages.quantize import QuantizeStep
from edgekit.runtime import Model


def _tensors(path: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]], Any]:
    """(tensor details, op details, interpreter) of the file as written (no delegate)."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interp = Interpreter(
        model_path=str(path),
        experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
    )
    return interp.get_tensor_details(), interp._get_ops_details(), interp


def _batches(digits: DigitsData, n: int = 128) -> list[torch.Tensor]:
    return [digits.x_train[i : i + 32] for i in range(0, n, 32)]


def _ops_reading(details: list[dict[str, Any]], ops: list[dict[str, Any]], code: str) -> list[list[Any]]:
    by_index = {d["index"]: d for d in details}
    return [[by_index.get(i) for i in op["inputs"]] for op in ops if op["op_name"] == code]


def test_scheme_is_a_string_coercible_enum() -> None:
    assert ek.QuantConfig(scheme="int16x8").scheme is ek.QuantScheme.INT16X8
    assert ek.QuantConfig().scheme is ek.QuantScheme.INT8
    config = ek.QuantConfig(scheme="dynamic_int8")
    assert ek.QuantConfig.from_dict(config.to_dict()) == config
    assert config.to_dict()["scheme"] == "dynamic_int8"
    with pytest.raises(QuantizationError, match=r"scheme must be one of .*'int16x8'"):
        ek.QuantConfig(scheme="int4")
    with pytest.raises(QuantizationError, match="keep_float is not supported with scheme 'float16'"):
        ek.QuantConfig(scheme="float16", keep_float=("fc",))


def test_recipe_step_embeds_and_validates_the_scheme() -> None:
    step = QuantizeStep.model_validate({"step": "quantize", "scheme": "int16x8", "mode": "ptq"})
    assert step.config == ek.QuantConfig(scheme="int16x8")
    with pytest.raises(ValueError, match="scheme"):
        QuantizeStep.model_validate({"step": "quantize", "scheme": "int3"})


def test_int16x8_writes_int16_activations_int64_bias_and_matches_pytorch(
    trained_cnn: torch.nn.Module, digits: DigitsData, tmp_path: Path
) -> None:
    x = digits.x_test[:1]
    result = ek.quantize(trained_cnn, x, config=ek.QuantConfig(scheme="int16x8"), calibrate=_batches(digits))
    out = ek.export(result, x, tmp_path / "m.tflite")
    assert out.scheme == "int16x8" and out.quantized
    details, ops, _ = _tensors(out.path)
    model = Model.load(out.path)
    assert model.inputs[0].file_dtype == np.int16 and model.inputs[0].quantization[1] == 0
    assert model.outputs[0].file_dtype == np.int16
    for inputs in _ops_reading(details, ops, "CONV_2D"):
        x_t, w_t, b_t = inputs
        assert x_t["dtype"] == np.int16 and w_t["dtype"] == np.int8 and b_t["dtype"] == np.int64
        assert not x_t["quantization_parameters"]["zero_points"].any()
    assert {op["op_name"] for op in ops} & {"QUANTIZE", "DEQUANTIZE"} == set()
    report = ek.compare(result.model, out.path, [digits.x_test[:64]])
    assert report.cosine_min > 0.9999 and report.top1_agreement == 1.0
    assert report.max_abs < 1e-3 * report.output_range  # 16x8: far inside int8's error


def test_int16x8_onnx_and_runtime_settings(
    trained_cnn: torch.nn.Module, digits: DigitsData, tmp_path: Path
) -> None:
    x = digits.x_test[:1]
    result = ek.quantize(
        trained_cnn, x, config=ek.QuantConfig(scheme="int16x8"), calibrate=_batches(digits, 64)
    )
    onnx_file = ek.export(result, x, tmp_path / "m.onnx")  # verified in ONNX Runtime
    assert any("opset 21" in note for note in onnx_file.notes) and onnx_file.scheme == "int16x8"
    tflite = ek.export(result, x, tmp_path / "m.tflite").path
    with pytest.raises(DelegateUnavailableError, match=r"int16 activations .* delegate='cpu'"):
        Model.load(tflite, delegate="xnnpack")
    assert Model.load(tflite, delegate="cpu")(x).shape == (1, 10)


def test_int16x8_op_without_a_16x8_kernel_runs_in_float_with_a_note() -> None:
    """An int16 HARD_SWISH (no 16x8 kernel in LiteRT) reaching the writer runs in float between DEQUANTIZE
    and QUANTIZE, named in the notes: never a file LiteRT refuses, never a silent float island."""
    from edgekit.converters.tflite.direct.emitter import QUANT_MARK
    from edgekit.converters.tflite.direct.ir import Graph, Operator, Quant
    from edgekit.converters.tflite.direct.quantize import quantize

    graph = Graph()
    x = graph.tensor((1, 4), np.float32, name="x")
    graph.inputs.append(x)

    def mark(t: Any) -> Any:
        out = graph.tensor(t.shape, np.float32)
        out.quant = Quant(np.asarray([0.01], np.float32), np.zeros(1, np.int64), dtype=np.dtype(np.int16))
        graph.add(Operator(QUANT_MARK, [t], [out]))
        return out

    y = graph.tensor((1, 4), np.float32, name="hswish_out")
    graph.add(Operator("HARD_SWISH", [mark(x)], [y]))
    graph.outputs.append(mark(y))
    notes: list[str] = []
    quantize(graph, notes)
    codes = [op.code for op in graph.operators]
    assert codes == ["DEQUANTIZE", "HARD_SWISH", "QUANTIZE"], codes
    assert any("HARD_SWISH" in n and "runs in float" in n for n in notes), notes


def test_float16_stores_float16_weights_and_keeps_float_io(
    trained_resnet: torch.nn.Module, digits: DigitsData, tmp_path: Path
) -> None:
    x = digits.x_test[:1]
    fp32 = ek.export(trained_resnet, x, tmp_path / "fp32.tflite")
    result = ek.quantize(trained_resnet, x, config=ek.QuantConfig(scheme="float16"))
    assert result.calibration_samples == 0 and "float16" in result.summary()
    out = ek.export(result, x, tmp_path / "m.tflite")
    details, ops, _ = _tensors(out.path)
    halves = [d for d in details if d["dtype"] == np.float16]
    assert halves and out.ops.get("DEQUANTIZE") == len(halves)
    for inputs in _ops_reading(details, ops, "DEQUANTIZE"):
        assert inputs[0]["dtype"] == np.float16
    assert Model.load(out.path).inputs[0].file_dtype == np.float32
    assert out.size_bytes < 0.6 * fp32.size_bytes
    report = ek.compare(trained_resnet, out.path, [digits.x_test[:64]])
    assert report.cosine_min > 0.9999 and report.top1_agreement == 1.0


def test_dynamic_int8_writes_hybrid_ops(
    trained_resnet: torch.nn.Module, digits: DigitsData, tmp_path: Path
) -> None:
    x = digits.x_test[:1]
    result = ek.quantize(trained_resnet, x, config=ek.QuantConfig(scheme="dynamic_int8"))
    out = ek.export(result, x, tmp_path / "m.tflite")
    details, ops, _ = _tensors(out.path)
    hybrid = [
        inputs
        for code in ("CONV_2D", "FULLY_CONNECTED", "DEPTHWISE_CONV_2D")
        for inputs in _ops_reading(details, ops, code)
        if inputs[1]["dtype"] == np.int8
    ]
    assert hybrid, "no op reads int8 weights"
    for x_t, w_t, *_ in hybrid:
        assert x_t["dtype"] == np.float32
        assert len(w_t["quantization_parameters"]["scales"]) > 1  # per channel
    assert Model.load(out.path).inputs[0].file_dtype == np.float32
    report = ek.compare(trained_resnet, out.path, [digits.x_test[:64]])
    assert report.cosine_min > 0.999 and report.top1_agreement >= 0.98


def test_weight_only_schemes_ignore_calibration_with_a_warning(
    trained_cnn: torch.nn.Module, digits: DigitsData
) -> None:
    x = digits.x_test[:1]
    with pytest.warns(UserWarning, match="ignores calibration data: drop calibrate="):
        ek.quantize(trained_cnn, x, config=ek.QuantConfig(scheme="float16"), calibrate=_batches(digits))
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        result = ek.quantize(trained_cnn, x, config=ek.QuantConfig(scheme="dynamic_int8"))
    assert result.model is not trained_cnn  # a copy; the caller's model is untouched
    with pytest.raises(QuantizationError, match="nothing to train"):
        ek.prepare_qat(trained_cnn, x, config=ek.QuantConfig(scheme="float16"))


def test_calibrated_schemes_need_calibration(trained_cnn: torch.nn.Module, digits: DigitsData) -> None:
    with pytest.raises(QuantizationError, match=r"pass calibrate=batches.*'float16' / 'dynamic_int8'"):
        ek.quantize(trained_cnn, digits.x_test[:1], config=ek.QuantConfig(scheme="int16x8"))


def test_weight_only_scheme_needs_the_direct_writer(
    trained_cnn: torch.nn.Module, digits: DigitsData, tmp_path: Path
) -> None:
    x = digits.x_test[:1]
    result = ek.quantize(trained_cnn, x, config=ek.QuantConfig(scheme="float16"))
    with pytest.raises(ConversionError, match="direct writer"):
        ek.export(result, x, tmp_path / "m.tflite", config=ek.ExportConfig(writer="tf"))


@pytest.mark.slow
@pytest.mark.parametrize("scheme", ["int16x8", "float16", "dynamic_int8"])
def test_mobilenet_v2_every_scheme_runs_in_litert_with_parity(scheme: str, tmp_path: Path) -> None:
    """torchvision MobileNetV2 x0.5 at 32x32 (random init, BatchNorm re-estimated): depthwise convs,
    ReLU6, residual ADDs, the classifier; every scheme converts, runs in LiteRT and matches its reference."""
    import torchvision

    torch.manual_seed(0)
    net = torchvision.models.mobilenet_v2(weights=None, num_classes=10, width_mult=0.5).train()
    with torch.no_grad():
        for _ in range(3):
            net(torch.rand(16, 3, 32, 32))
    net.eval()
    rng = np.random.default_rng(0)
    calib = [rng.random((16, 3, 32, 32), dtype=np.float32) for _ in range(4)]
    x = calib[0][:1]
    config = ek.QuantConfig(scheme=scheme)
    result = ek.quantize(net, x, config=config, calibrate=calib if config.scheme.calibrated else None)
    out = ek.export(result, x, tmp_path / "m.tflite")
    details, _, _ = _tensors(out.path)
    kinds = {np.dtype(d["dtype"]) for d in details}
    expected = {"int16x8": np.int16, "float16": np.float16, "dynamic_int8": np.int8}[scheme]
    assert np.dtype(expected) in kinds
    if scheme == "int16x8":
        assert "DEQUANTIZE" not in out.ops and "QUANTIZE" not in out.ops
    test = rng.random((16, 3, 32, 32), dtype=np.float32)
    report = ek.compare(result.model, out.path, [test])
    assert report.cosine_min > 0.999, report.summary()
