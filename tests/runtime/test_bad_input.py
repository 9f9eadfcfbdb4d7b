"""Bad input gets a specific error that says what was expected, and never crashes the process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgekit.errors import DelegateUnavailableError, EdgekitError, InputSpecError, ModelFileError
from edgekit.runtime import Model


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="not found"):
        Model.load(tmp_path / "nope.tflite")


@pytest.mark.parametrize("suffix", [".tflite", ".onnx"])
def test_random_bytes(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"random{suffix}"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    with pytest.raises(ModelFileError, match=r"not a valid|not a TFLite"):
        Model.load(path)


def test_truncated_tflite_is_rejected_before_the_interpreter_sees_it(
    tflite_fp32_path: Path, tmp_path: Path
) -> None:
    data = tflite_fp32_path.read_bytes()
    path = tmp_path / "truncated.tflite"
    path.write_bytes(data[: len(data) // 2])
    # in a subprocess: a crash of the native runtime must show up as a failure, not kill the test run
    code = (
        "import sys\nfrom edgekit.runtime import Model\nfrom edgekit.errors import ModelFileError\n"
        f"try:\n    Model.load({str(path)!r})\nexcept ModelFileError as e:\n    print('REJECTED', e)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "REJECTED" in result.stdout and "truncated" in result.stdout


def test_onnx_renamed_to_tflite(onnx_path: Path, tmp_path: Path) -> None:
    path = tmp_path / "model.tflite"
    path.write_bytes(onnx_path.read_bytes())
    with pytest.raises(ModelFileError, match=r"content is a onnx model; rename it to model\.onnx"):
        Model.load(path)


def test_unknown_suffix_and_empty_file(tmp_path: Path) -> None:
    (tmp_path / "m.pt").write_bytes(b"x")
    with pytest.raises(ModelFileError, match="unknown model suffix"):
        Model.load(tmp_path / "m.pt")
    (tmp_path / "empty.onnx").write_bytes(b"")
    with pytest.raises(ModelFileError, match="empty"):
        Model.load(tmp_path / "empty.onnx")


def test_wrong_input_count(onnx_path: Path) -> None:
    x = np.zeros((1, 1, 8, 8), np.float32)
    with pytest.raises(InputSpecError, match=r"takes 1 input\(s\).*got 2"):
        Model.load(onnx_path).run([x, x])


def test_wrong_shape_is_a_value_error_with_the_expected_spec(onnx_path: Path, tflite_fp32_path: Path) -> None:
    with pytest.raises(ValueError, match=r"must have shape \?x1x8x8"):
        Model.load(onnx_path)(np.zeros((1, 3, 8, 8), np.float32))
    with pytest.raises(InputSpecError, match=r"must have shape 1x8x8x1"):
        Model.load(tflite_fp32_path)(np.zeros((1, 8, 9, 1), np.float32))


def test_wrong_dtype(onnx_path: Path, tflite_int8_path: Path) -> None:
    with pytest.raises(InputSpecError, match="must be float32, got int64"):
        Model.load(onnx_path)(np.zeros((1, 1, 8, 8), np.int64))
    with pytest.raises(InputSpecError, match="takes float values"):
        Model.load(tflite_int8_path)(np.zeros((1, 8, 8, 1), np.int32))
    with pytest.raises(InputSpecError, match="must be int8"):
        Model.load(tflite_int8_path).run(np.zeros((1, 8, 8, 1), np.float32), raw=True)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_input_for_int8_model(tflite_int8_path: Path, bad: float) -> None:
    x = np.zeros((1, 8, 8, 1), np.float32)
    x[0, 3, 3, 0] = bad
    with pytest.raises(InputSpecError, match="NaN or inf"):
        Model.load(tflite_int8_path)(x)


@pytest.mark.parametrize("threads", [0, -2, 1.5, True])
def test_bad_thread_count(tflite_fp32_path: Path, threads: object) -> None:
    with pytest.raises(ValueError, match="threads must be a positive integer"):
        Model.load(tflite_fp32_path, threads=threads)  # type: ignore[arg-type]


def test_unknown_delegate_lists_available(tflite_fp32_path: Path, onnx_path: Path) -> None:
    with pytest.raises(DelegateUnavailableError, match="available: xnnpack, cpu, none") as err:
        Model.load(tflite_fp32_path, delegate="warp-drive")
    assert "xnnpack" in err.value.available
    with pytest.raises(DelegateUnavailableError, match="available: cpu"):
        Model.load(onnx_path, delegate="warp-drive")


@pytest.mark.parametrize("delegate", ["gpu", "cuda", "tensorrt"])
def test_gpu_delegates_absent_here(onnx_path: Path, tflite_fp32_path: Path, delegate: str) -> None:
    with pytest.raises(DelegateUnavailableError) as err:
        Model.load(onnx_path, delegate=delegate)
    assert err.value.available == ("cpu",) and isinstance(err.value, EdgekitError)
    if delegate == "gpu":
        with pytest.raises(DelegateUnavailableError, match="no TFLite GPU delegate library"):
            Model.load(tflite_fp32_path, delegate="gpu")


def test_backend_that_cannot_run_the_format(onnx_path: Path) -> None:
    with pytest.raises(EdgekitError, match=r"runs \.tflite files, not \.onnx"):
        Model.load(onnx_path, backend="litert")
