"""benchmark() -> Profile: fields, statistics and JSON round trip on real files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edgekit.runtime import Model, Profile
from edgekit.runtime.profile import summarize


def _check(profile: Profile, runs: int) -> None:
    assert profile.runs == runs == len(profile.samples_ms)
    assert 0 < profile.min_ms <= profile.p50_ms <= profile.p90_ms <= profile.p99_ms <= profile.max_ms
    assert profile.load_ms > 0 and profile.first_ms > 0 and profile.peak_rss_mb > 10
    assert profile.cpu["arch"] and profile.model_bytes > 0
    again = Profile.from_dict(json.loads(profile.to_json()))
    assert again == profile


def test_litert_profile(tflite_int8_path: Path) -> None:
    profile = Model.load(tflite_int8_path, threads=1).benchmark(runs=7, warmup=2)
    _check(profile, 7)
    assert profile.backend == "litert" and profile.delegate == "xnnpack" and profile.threads == 1
    assert profile.ops is None and any("per-op times are not available" in n for n in profile.notes)
    assert profile.delegate_coverage["delegated_nodes"] == 4


def test_onnxruntime_profile_has_per_op_times(onnx_path: Path) -> None:
    profile = Model.load(onnx_path).benchmark(runs=5, warmup=1, threads=1)
    _check(profile, 5)
    assert profile.threads == 1 and profile.ops is not None
    assert "Conv" in profile.ops and profile.ops["Conv"]["count"] >= 3
    assert profile.delegate_coverage["total_nodes"] == profile.delegate_coverage["delegated_nodes"] > 0


def test_progress_callback_sees_every_run(onnx_path: Path) -> None:
    seen: list[int] = []
    Model.load(onnx_path).benchmark(runs=4, warmup=0, op_profile=False, progress=lambda d, t: seen.append(d))
    assert seen == [1, 2, 3, 4]


def test_summary_statistics() -> None:
    s = summarize([float(i) for i in range(1, 101)])
    assert (s["p50_ms"], s["p90_ms"], s["p99_ms"], s["min_ms"], s["max_ms"]) == (50.0, 90.0, 99.0, 1.0, 100.0)
    assert s["mean_ms"] == pytest.approx(50.5)


def test_unknown_profile_keys_are_kept_in_extra(tflite_fp32_path: Path) -> None:
    data = Model.load(tflite_fp32_path).benchmark(runs=2, warmup=0).to_dict()
    data["future_field"] = 1
    assert Profile.from_dict(data).extra["future_field"] == 1
