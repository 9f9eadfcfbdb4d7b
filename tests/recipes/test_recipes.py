"""Recipes: validation before any work (file, line, key), a real run, caching, and failing steps."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

import edgekit as ek
from edgekit.errors import RecipeError
from edgekit.recipes import load_recipe

TINY = """\
name: tiny
model:
  demo: cnn
data:
  digits: true
steps:
  - step: train
    epochs: 2
  - step: quantize
    mode: ptq
    calibration_samples: 64
  - step: export
    formats: [onnx, tflite]
  - step: verify
  - step: profile
    runs: 5
    warmup: 1
"""


def _write(tmp_path: Path, text: str, name: str = "r.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            TINY.replace("    epochs: 2", "    epochs: 2\n    epoks: 3"),
            r"r.yaml:9: steps.0.epoks: Extra inputs",
        ),
        (TINY.replace("step: verify", "step: dance"), r"steps.3"),
        (TINY.replace("  demo: cnn", "  demo: cnn\n  colour: red"), r"r.yaml:4: model.colour"),
        (TINY.replace("    epochs: 2", "    epochs: -1"), r"r.yaml:8: steps.0.epochs"),
    ],
)
def test_bad_keys_and_values_name_file_line_and_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(RecipeError, match=message):
        load_recipe(_write(tmp_path, text))


def test_impossible_step_order_is_rejected_before_work(tmp_path: Path) -> None:
    text = TINY.replace("  - step: quantize\n    mode: ptq\n    calibration_samples: 64\n", "")
    text = text.replace("  - step: verify\n", "  - step: verify\n  - step: quantize\n")
    with pytest.raises(RecipeError, match=r"quantize\) cannot come after"):
        load_recipe(_write(tmp_path, text))
    assert not (tmp_path / "out").exists()


def test_missing_recipe_and_missing_data_file(tmp_path: Path) -> None:
    with pytest.raises(RecipeError, match="recipe file not found"):
        load_recipe(tmp_path / "nope.yaml")
    recipe = _write(tmp_path, TINY.replace("  digits: true", "  npz: missing.npz"))
    with pytest.raises(RecipeError, match=r"data file not found: .*missing.npz"):
        ek.run(recipe, out=tmp_path / "out")
    assert not (tmp_path / "out" / "summary.json").exists()


def test_entry_point_that_does_not_import(tmp_path: Path) -> None:
    recipe = _write(tmp_path, TINY.replace("  demo: cnn", "  entry: no_such_package.models:build"))
    with pytest.raises(RecipeError, match="does not import"):
        ek.run(recipe, out=tmp_path / "out")


def test_torchvision_builder_options_reach_the_model_and_bad_ones_are_named(tmp_path: Path) -> None:
    from edgekit.recipes.sources import load_model

    spec = "  torchvision: mobilenet_v2\n  options: {width_mult: 0.25}"
    recipe = load_recipe(_write(tmp_path, TINY.replace("  demo: cnn", spec)))
    model = load_model(recipe.model, in_channels=3)
    assert model.features[0][0].out_channels == 8  # 32 x 0.25
    recipe = load_recipe(_write(tmp_path, TINY.replace("  demo: cnn", spec.replace("width_mult", "depth"))))
    with pytest.raises(RecipeError, match="do not fit mobilenet_v2"):
        load_model(recipe.model, in_channels=3)


def test_state_dict_that_does_not_match_lists_the_keys(tmp_path: Path) -> None:
    torch.save({"features.0.0.weight": torch.zeros(3), "bogus.weight": torch.zeros(1)}, tmp_path / "w.pt")
    recipe = _write(tmp_path, TINY.replace("  demo: cnn", "  demo: cnn\n  state_dict: w.pt"))
    with pytest.raises(RecipeError, match="does not match the architecture"):
        ek.run(recipe, out=tmp_path / "out")


def test_run_writes_artifacts_summary_report_and_reuses_unchanged_steps(tmp_path: Path) -> None:
    recipe = _write(tmp_path, TINY)
    out = tmp_path / "out"
    first = ek.run(recipe, out=out)
    assert first.ok, first.failed_steps
    assert {p.name for p in out.iterdir()} >= {
        "tiny_int8.onnx",
        "tiny_int8.tflite",
        "summary.json",
        "report.html",
    }
    summary = json.loads((out / "summary.json").read_text())
    verify = next(s for s in summary["stages"] if s["step"] == "verify")
    assert verify["parity"]["accuracy"]["tflite"] > 0.8
    profile = next(s for s in summary["stages"] if s["step"] == "profile")
    assert set(profile["latency"]) == {"onnx@local", "tflite@local"}
    html = (out / "report.html").read_text()
    assert "data:image/png;base64," in html and "http" not in html.split("<body>")[1]

    again = ek.run(recipe, out=out)
    assert all(s.cached for s in again.stages)
    changed = _write(tmp_path, TINY.replace("runs: 5", "runs: 7"))
    third = ek.run(changed, out=out)
    assert [s.cached for s in third.stages] == [True, True, True, True, False]
    stricter = _write(
        tmp_path, TINY.replace("  - step: verify\n", "  - step: verify\n    min_top1_agreement: 0.95\n")
    )
    fourth = ek.run(stricter, out=out)
    assert [s.cached for s in fourth.stages] == [True, True, True, False, False]
    assert (
        "onnxruntime_default_vs_tflite" in fourth.stages[3].parity
    )  # re-run from files, still judged as int8
    forced = ek.run(changed, out=out, force=True)
    assert not any(s.cached for s in forced.stages)


def test_tampered_artifact_is_not_trusted(tmp_path: Path) -> None:
    recipe = _write(tmp_path, TINY)
    out = tmp_path / "out"
    ek.run(recipe, out=out)
    (out / "tiny_int8.tflite").write_bytes(b"half-written")
    again = ek.run(recipe, out=out)
    assert not again.stages[2].cached and again.ok


def test_unreachable_device_is_reported_and_the_rest_is_written(tmp_path: Path) -> None:
    text = TINY.replace("    runs: 5", "    devices: [local, adb://NOPE123]\n    runs: 5")
    summary = ek.run(_write(tmp_path, text), out=tmp_path / "out")
    assert not summary.ok and summary.failed_steps == ["5-profile"]
    profile = summary.stages[-1]
    assert "tflite@local" in profile.latency and "error" in profile.latency["tflite@adb://NOPE123"]
    html = (tmp_path / "out" / "report.html").read_text()
    assert "failed: 5-profile" in html and "NOPE123" in html


def test_npz_data_source(tmp_path: Path) -> None:
    from edgekit.demo import load_digits_split

    d = load_digits_split()
    np.savez(tmp_path / "data.npz", x_train=d.x_train, y_train=d.y_train, x_test=d.x_test, y_test=d.y_test)
    text = TINY.replace("  digits: true", "  npz: data.npz").split("  - step: quantize")[0]
    summary = ek.run(_write(tmp_path, text), out=tmp_path / "out")
    assert summary.ok and summary.stages[0].accuracy > 0.5


@pytest.mark.skipif(
    shutil.which("chromium") is None and shutil.which("chromium-browser") is None,
    reason="chromium not installed (scripts/install-sysdeps.sh installs it)",
)
def test_report_renders_in_a_real_browser(tmp_path: Path) -> None:
    out = tmp_path / "out"
    ek.run(_write(tmp_path, TINY), out=out)
    script = Path(__file__).resolve().parents[2] / "scripts" / "check-report.py"
    result = subprocess.run(["python3", str(script), str(out)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert (out / "report.png").stat().st_size > 10_000
