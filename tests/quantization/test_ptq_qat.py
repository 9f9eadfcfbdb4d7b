"""PTQ and QAT on real digits: accuracy goals, measured on the int8 TFLite file with edgekit.runtime."""

from __future__ import annotations

import copy
import itertools
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import numpy_helper

import edgekit as ek
from edgekit.demo import DigitsData
from edgekit.quantization import QuantConfig, qat_step
from edgekit.runtime import Model
from edgekit.training import accuracy, train


def _example(d: DigitsData) -> torch.Tensor:
    return torch.from_numpy(d.x_train[:1])


def test_ptq_int8_tflite_within_one_point_of_fp32(trained_cnn, digits, fp32_accuracy, tmp_path: Path) -> None:
    q = ek.quantize(
        copy.deepcopy(trained_cnn), _example(digits), calibrate=digits.calibration_batches()
    ).model
    assert ek.quantize.__module__  # the public verb is importable from edgekit
    tfl = ek.export(q, _example(digits), tmp_path / "ptq.tflite")
    model = Model.load(tfl.path)
    assert model.inputs[0].file_dtype == np.int8 and model.outputs[0].file_dtype == np.int8
    assert accuracy(model, digits.x_test, digits.y_test) >= fp32_accuracy - 0.010


def test_qat_int8_tflite_within_0_3_points_of_fp32(
    trained_cnn, digits, fp32_accuracy, tmp_path: Path
) -> None:
    torch.manual_seed(0)
    qat = ek.prepare_qat(copy.deepcopy(trained_cnn), _example(digits), config=QuantConfig(freeze_bn_after=30))
    steps = iter(range(10_000))
    train(
        qat,
        digits.x_train,
        digits.y_train,
        epochs=2,
        lr=3e-4,
        on_epoch=lambda epoch, loss: qat_step(qat, next(steps) * 100),
    )
    q = ek.finalize(qat)
    model = Model.load(ek.export(q, _example(digits), tmp_path / "qat.tflite").path)
    assert accuracy(model, digits.x_test, digits.y_test) >= fp32_accuracy - 0.003


def test_parity_chain_pytorch_onnx_tflite(trained_resnet, digits, tmp_path: Path) -> None:
    q = ek.quantize(
        copy.deepcopy(trained_resnet), _example(digits), calibrate=digits.calibration_batches()
    ).model
    onnx_path = ek.export(q, _example(digits), tmp_path / "q.onnx").path
    tfl_path = ek.export(q, _example(digits), tmp_path / "q.tflite").path
    x = digits.x_test
    pairs = {
        "torch-onnx": ek.compare(q, onnx_path, [x]),
        "onnx-tflite": ek.compare(onnx_path, tfl_path, [x]),
        "torch-tflite": ek.compare(q, tfl_path, [x]),
    }
    for name, report in pairs.items():
        assert report.top1_agreement >= 0.995, (name, report.summary())
    step = Model.load(tfl_path).outputs[0].quantization[0]
    assert pairs["torch-tflite"].max_abs <= 2 * step + 1e-6, pairs["torch-tflite"].summary()


def test_scales_are_identical_in_pytorch_onnx_and_tflite(trained_resnet, digits, tmp_path: Path) -> None:
    from ai_edge_litert.interpreter import Interpreter

    q = ek.quantize(
        copy.deepcopy(trained_resnet), _example(digits), calibrate=digits.calibration_batches()
    ).model
    qpt = torch.ops.quantized_decomposed.quantize_per_tensor.default
    torch_act = {(np.float32(n.args[1]), int(n.args[2])) for n in q.graph.nodes if n.target == qpt}
    proto = onnx.load(str(ek.export(q, _example(digits), tmp_path / "q.onnx").path))
    inits = {i.name: numpy_helper.to_array(i) for i in proto.graph.initializer}
    onnx_act = {
        (np.float32(inits[n.input[1]]), int(inits[n.input[2]]))
        for n in proto.graph.node
        if n.op_type == "QuantizeLinear" and n.input[0] not in inits
    }
    interp = Interpreter(model_path=str(ek.export(q, _example(digits), tmp_path / "q.tflite").path))
    tfl_act = {
        (np.float32(d["quantization"][0]), int(d["quantization"][1]))
        for d in interp.get_tensor_details()
        if d["dtype"] == np.int8 and len(d["quantization_parameters"]["scales"]) == 1
    }
    assert torch_act == onnx_act, torch_act ^ onnx_act
    assert tfl_act <= onnx_act and len(tfl_act) >= len(onnx_act) - 1, onnx_act - tfl_act
    # weights: per-channel symmetric int8, the PyTorch scale vectors are the ONNX and TFLite ones
    onnx_w = sorted(
        (
            inits[n.input[1]]
            for n in proto.graph.node
            if n.op_type == "DequantizeLinear" and n.input[0] in inits and inits[n.input[0]].dtype == np.int8
        ),
        key=lambda a: (a.size, float(a[0])),
    )
    tfl_w = sorted(
        (
            d["quantization_parameters"]["scales"]
            for d in interp.get_tensor_details()
            if d["dtype"] == np.int8 and len(d["quantization_parameters"]["scales"]) > 1
        ),
        key=lambda a: (a.size, float(a[0])),
    )
    assert len(onnx_w) == len(tfl_w) == 10
    for a, b in zip(onnx_w, tfl_w, strict=True):
        np.testing.assert_array_equal(a.astype(np.float32), b.astype(np.float32))


def test_no_float_island_between_quantized_ops(trained_resnet, digits, tmp_path: Path) -> None:
    q = ek.quantize(
        copy.deepcopy(trained_resnet), _example(digits), calibrate=digits.calibration_batches()
    ).model
    proto = onnx.load(str(ek.export(q, _example(digits), tmp_path / "q.onnx").path))
    producers = {o: n for n in proto.graph.node for o in n.output}
    inits = {i.name for i in proto.graph.initializer}
    for node in proto.graph.node:
        if node.op_type in {"Conv", "Add", "Gemm"}:
            for name in node.input[:2]:
                if name in inits or not name:
                    continue
                assert producers[name].op_type == "DequantizeLinear", (
                    f"{node.op_type} {node.name} reads float {name}"
                )


@pytest.mark.parametrize("calibrator", ["moving_average", "percentile", "mse"])
def test_calibrators_keep_accuracy(calibrator: str, trained_cnn, digits, fp32_accuracy) -> None:
    q = ek.quantize(
        copy.deepcopy(trained_cnn),
        _example(digits),
        calibrate=digits.calibration_batches(128),
        config=QuantConfig(calibrator=calibrator),
    ).model
    assert accuracy(q, digits.x_test, digits.y_test) >= fp32_accuracy - 0.02


def test_keep_float_leaves_the_layer_unquantized(trained_cnn, digits) -> None:
    q = ek.quantize(
        copy.deepcopy(trained_cnn),
        _example(digits),
        calibrate=digits.calibration_batches(64),
        config=QuantConfig(keep_float=("classifier",)),
    ).model
    weights = {n.target for n in q.graph.nodes if n.op == "get_attr"}
    assert any("classifier" in w for w in weights), "the classifier keeps its float weight"
    linear = next(n for n in q.graph.nodes if n.target == torch.ops.aten.linear.default)
    assert linear.args[1].op == "get_attr" and "dequantize" not in str(linear.args[1].target)


def test_sensitivity_lists_every_layer_worst_first(trained_cnn, digits) -> None:
    x, y = digits.x_test[:200], digits.y_test[:200]
    result = ek.sensitivity(
        copy.deepcopy(trained_cnn),
        _example(digits),
        calibrate=digits.calibration_batches(64),
        evaluate=lambda m: accuracy(m, x, y),
    )
    assert [r.layer for r in result] and len(result) == 4
    assert all(a.drop >= b.drop for a, b in itertools.pairwise(result))


def test_per_layer_parity_matches_tensors_by_their_scales(trained_resnet, digits, tmp_path: Path) -> None:
    example = _example(digits)
    q = ek.quantize(copy.deepcopy(trained_resnet), example, calibrate=digits.calibration_batches()).model
    onnx_path = ek.export(q, example, tmp_path / "q.onnx").path
    tfl_path = ek.export(q, example, tmp_path / "q.tflite").path
    report = ek.compare(onnx_path, tfl_path, [digits.x_test[:4]], per_layer=True)
    assert len(report.layers) >= 10, [layer.name for layer in report.layers]
    assert max(layer.max_steps for layer in report.layers) <= 3.01  # rounding steps, never a wrong layer
    assert {"name", "max_steps", "mean_steps", "scale"} <= set(report.layers[0].to_dict())
    # a model calibrated on other data has other scales: far fewer tensors match
    other = ek.quantize(copy.deepcopy(trained_resnet), example, calibrate=[digits.x_train[:8] * 0.5]).model
    other_tfl = ek.export(other, example, tmp_path / "other.tflite").path
    mismatch = ek.compare(tfl_path, other_tfl, [digits.x_test[:4]], per_layer=True)
    assert len(mismatch.layers) < len(report.layers)


class DigitsSE(torch.nn.Module):
    """Conv-BN-SiLU with squeeze-and-excitation (mean -> conv -> SiLU -> conv -> sigmoid -> mul), as in
    EfficientNet: the SiLU and the excitation multiply must run as int8 ops in the file."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Sequential(
            torch.nn.Conv2d(1, 16, 3, padding=1), torch.nn.BatchNorm2d(16), torch.nn.SiLU()
        )
        self.squeeze = torch.nn.Conv2d(16, 4, 1)
        self.excite = torch.nn.Conv2d(4, 16, 1)
        self.head = torch.nn.Linear(16, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        s = torch.sigmoid(self.excite(torch.nn.functional.silu(self.squeeze(y.mean((2, 3), keepdim=True)))))
        return self.head((y * s).mean((2, 3)))


def test_silu_and_excitation_multiply_stay_int8(digits, tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = train(DigitsSE(), digits.x_train, digits.y_train, epochs=4).eval()
    q = ek.quantize(model, _example(digits), calibrate=digits.calibration_batches()).model
    onnx_result = ek.export(q, _example(digits), tmp_path / "se.onnx")
    proto = onnx.load(str(onnx_result.path))
    producers = {o: n for n in proto.graph.node for o in n.output}
    muls = [n for n in proto.graph.node if n.op_type == "Mul"]
    assert len(muls) >= 3  # two SiLUs and the excitation
    for node in muls:
        for name in node.input:
            assert producers[name].op_type == "DequantizeLinear", f"Mul {node.name} reads float {name}"
    tfl = ek.export(q, _example(digits), tmp_path / "se.tflite")
    assert "QUANTIZE" not in tfl.ops and "DEQUANTIZE" not in tfl.ops, tfl.ops  # no float island
    assert tfl.ops.get("LOGISTIC", 0) == 3 and tfl.ops.get("MUL", 0) == 3, tfl.ops
    report = ek.compare(q, tfl.path, [digits.x_test])
    assert report.top1_agreement >= 0.995, report.summary()
