"""Model.load / run / layout / quantization on real files."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from edgekit.runtime import Model, available_backends, available_delegates

RNG = np.random.default_rng(0)


def test_backends_and_delegates_found() -> None:
    assert set(available_backends()) == {"litert", "onnxruntime"}
    delegates = available_delegates()
    assert "xnnpack" in delegates["litert"] and "cpu" in delegates["onnxruntime"]


def test_onnx_matches_pytorch_and_takes_any_batch(onnx_path: Path, torch_cnn) -> None:
    import torch

    model = Model.load(onnx_path, threads=1)
    assert model.backend == "onnxruntime" and model.runtime_name.startswith("onnxruntime")
    x = RNG.random((5, 1, 8, 8), dtype=np.float32)
    expected = torch_cnn(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(model(x), expected, atol=1e-5)
    assert [s.name for s in model.inputs] == ["image"] and model.inputs[0].shape[1:] == (1, 8, 8)


def _raw_litert(path: Path, x_nhwc: np.ndarray) -> np.ndarray:
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(path))
    interp.allocate_tensors()
    (inp,), (out,) = interp.get_input_details(), interp.get_output_details()
    interp.set_tensor(inp["index"], x_nhwc)
    interp.invoke()
    return interp.get_tensor(out["index"])


def test_int8_model_quantizes_and_dequantizes(tflite_int8_path: Path) -> None:
    model = Model.load(tflite_int8_path)
    (spec,), (out_spec,) = model.inputs, model.outputs
    assert model.quantized and spec.file_dtype == np.int8 and spec.dtype == np.float32
    scale, zp = spec.quantization
    x = RNG.random((1, 8, 8, 1), dtype=np.float32)
    q = np.clip(np.rint(x / scale) + zp, -128, 127).astype(np.int8)
    raw = _raw_litert(tflite_int8_path, q)
    np.testing.assert_array_equal(
        model.run(x, raw=False).round(6),
        ((raw.astype(np.float32) - out_spec.quantization[1]) * out_spec.quantization[0]).round(6),
    )
    np.testing.assert_array_equal(model.run(q, raw=True), raw)


def test_fixed_batch_one_runs_sample_by_sample(tflite_fp32_path: Path) -> None:
    model = Model.load(tflite_fp32_path)
    x = RNG.random((4, 8, 8, 1), dtype=np.float32)
    batched = model(x)
    assert batched.shape == (4, 10)
    np.testing.assert_allclose(batched[2:3], model(x[2:3]), atol=1e-6)


def test_metadata_maps_nchw_onto_nhwc_file(tflite_fp32_path: Path, tmp_path: Path) -> None:
    from edgekit.converters.tflite.metadata import add_metadata
    from edgekit.runtime.metadata import ModelMetadata, TensorLayout

    meta = ModelMetadata(
        inputs=(TensorLayout("image", (1, 1, 8, 8), "NCHW", "NHWC", (0, 2, 3, 1)),),
        outputs=(TensorLayout("logits", (1, 10)),),
    )
    labelled = tmp_path / "labelled.tflite"
    labelled.write_bytes(add_metadata(tflite_fp32_path.read_bytes(), meta))
    model = Model.load(labelled)
    assert model.inputs[0].shape == (1, 1, 8, 8) and model.inputs[0].file_shape == (1, 8, 8, 1)
    assert model.inputs[0].name == "image" and model.outputs[0].name == "logits"
    x_nchw = RNG.random((1, 1, 8, 8), dtype=np.float32)
    np.testing.assert_allclose(
        model(x_nchw), _raw_litert(tflite_fp32_path, x_nchw.transpose(0, 2, 3, 1)), atol=1e-6
    )


def test_unlabelled_nhwc_file_transposes_unambiguous_nchw_with_a_warning(
    tflite_fp32_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    model = Model.load(tflite_fp32_path)
    assert model.metadata is None
    x = RNG.random((1, 1, 8, 8), dtype=np.float32)
    with caplog.at_level(logging.WARNING):
        y = model(x)
    assert "no edgekit layout metadata" in caplog.text
    np.testing.assert_allclose(y, model(x.transpose(0, 2, 3, 1)), atol=1e-6)


def test_inputs_by_name_and_as_list(onnx_path: Path) -> None:
    model = Model.load(onnx_path)
    x = RNG.random((2, 1, 8, 8), dtype=np.float32)
    np.testing.assert_array_equal(model.run({"image": x}), model.run([x]))


def test_xnnpack_coverage_and_reference_kernels(tflite_int8_path: Path) -> None:
    xnn = Model.load(tflite_int8_path, delegate="xnnpack").delegate_coverage()
    assert xnn["total_nodes"] == 4 and xnn["delegated_nodes"] == 4 and xnn["fallback_op_types"] == {}
    ref = Model.load(tflite_int8_path, delegate="none")
    cov = ref.delegate_coverage()
    assert cov["delegated_nodes"] == 0 and sum(cov["fallback_op_types"].values()) == 4
    assert ref.op_histogram() == {"CONV_2D": 1, "DEPTHWISE_CONV_2D": 1, "MEAN": 1, "FULLY_CONNECTED": 1}
