"""``ek.profile``: one profiling path for files, loaded Models, devices; settings validated once."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import edgekit as ek
from edgekit.runtime import Model, Profile


def test_profile_a_file_and_a_loaded_model(onnx_path: Path) -> None:
    profile = ek.profile(onnx_path, config=ek.ProfileConfig(runs=3, warmup=0, threads=1, op_profile=False))
    assert isinstance(profile, Profile) and profile.runs == 3 and profile.threads == 1 and profile.ops is None
    model = Model.load(onnx_path)
    again = ek.profile(model, config=ek.ProfileConfig(runs=2, warmup=0, threads=2))
    assert again.threads == 2 and again.runs == 2 and again.ops
    assert "over 2 runs" in again.summary() and "2 threads" in again.summary()


def test_benchmark_and_device_profile_are_the_same_path(tflite_fp32_path: Path) -> None:
    from edgekit.devices import connect

    with pytest.raises(ek.RuntimeSettingError, match="threads must be a positive integer"):
        Model.load(tflite_fp32_path).benchmark(runs=2, threads=0)
    with connect("local") as device, pytest.raises(ek.RuntimeSettingError, match="threads"):
        device.profile(tflite_fp32_path, threads=-1)
    with pytest.raises(ek.RuntimeSettingError, match="warmup"):
        ek.profile(tflite_fp32_path, config=ek.ProfileConfig(runs=1, warmup=-1))
    with connect("local") as device:
        remote = ek.profile(tflite_fp32_path, device, ek.ProfileConfig(runs=2, warmup=0, threads=1))
    assert remote.extra["device"] == "local" and remote.runs == 2 and remote.threads == 1
    with connect("local") as device, pytest.raises(ek.RuntimeSettingError, match="not both"):
        device.profile(tflite_fp32_path, runs=5, config=ek.ProfileConfig())


def test_profile_takes_an_export_result(small_cnn, tmp_path: Path) -> None:
    import torch

    exported = ek.export(small_cnn, torch.rand(1, 1, 8, 8), tmp_path / "m.tflite")
    assert ek.profile(exported, config=ek.ProfileConfig(runs=2, warmup=0)).model_bytes == exported.size_bytes


def test_model_load_settings_are_runtime_setting_errors(onnx_path: Path, tflite_fp32_path: Path) -> None:
    for kwargs in ({"threads": 0}, {"threads": 1.5}, {"threads": True}, {"delegate": ""}, {"delegate": None}):
        with pytest.raises(ek.RuntimeSettingError):
            Model.load(onnx_path, **kwargs)
    with pytest.raises(ek.RuntimeSettingError, match="ort_optimization must be one of"):
        Model.load(onnx_path, ort_optimization="max")
    with pytest.raises(ek.RuntimeSettingError, match="ONNX Runtime option"):
        Model.load(tflite_fp32_path, ort_optimization="basic")


def test_ort_optimization_levels_give_the_same_float_answers(onnx_path: Path) -> None:
    x = np.random.default_rng(0).random((2, 1, 8, 8), dtype=np.float32)
    outs = [Model.load(onnx_path, ort_optimization=level)(x) for level in ("disabled", "basic", "all")]
    assert all(np.allclose(outs[0], o, atol=1e-5) for o in outs[1:])
