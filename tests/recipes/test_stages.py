"""Recipe steps as registered classes: configs embedded without drift, rules derived from the classes."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import pytest
from pydantic import BaseModel, ValidationError

from edgekit.errors import RecipeError
from edgekit.pruning.config import PruneConfig
from edgekit.quantization.config import QuantConfig
from edgekit.recipes import Recipe, load_recipe, run
from edgekit.recipes.embed import EmbeddedConfig, yaml_fields
from edgekit.recipes.stages import STEPS, Needs, must_precede, order_text, ordered
from edgekit.recipes.stages.prune import PruneStep
from edgekit.recipes.stages.quantize import QuantizeStep

BASE = "model:\n  demo: cnn\ndata:\n  digits: true\nsteps:\n"


def _load(tmp_path: Path, steps: str, base: str = BASE) -> Recipe:
    path = tmp_path / "r.yaml"
    path.write_text(base + steps)
    return load_recipe(path)


@pytest.mark.parametrize(
    ("step_class", "config_class"), [(PruneStep, PruneConfig), (QuantizeStep, QuantConfig)]
)
def test_schema_defaults_are_the_config_dataclass_defaults(step_class: type, config_class: type) -> None:
    embedded = step_class.embedded()
    assert embedded is not None and embedded.config_class is config_class
    for f in dataclasses.fields(config_class):
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        assert embedded.model.model_fields[f.name].default == default, f.name


def test_steps_build_the_same_configs_as_the_verbs() -> None:
    assert QuantizeStep.model_validate({"step": "quantize"}).config == QuantConfig()
    step = PruneStep.model_validate(
        {"step": "prune", "ratio": 0.5, "importance": "taylor", "ignored_layers": ["fc"]}
    )
    assert step.config == PruneConfig(ratio=0.5, importance="taylor", ignored_layers=("fc",))
    assert step.model_dump(mode="json")["config"]["importance"] == "taylor"


def test_a_field_added_to_a_config_appears_in_the_schema_with_its_default() -> None:
    @dataclasses.dataclass(frozen=True)
    class Grown:
        ratio: float = 0.5
        names: tuple[str, ...] = ()
        added_later: int | None = 3
        callback: object = None  # no YAML form: stays at its default

    assert set(yaml_fields(Grown)) == {"ratio", "names", "added_later"}

    class Holder(BaseModel):
        config: Annotated[Grown, EmbeddedConfig(Grown)]

    assert Holder.model_validate({"config": {}}).config == Grown()
    assert Holder.model_validate({"config": {"added_later": 7}}).config.added_later == 7
    with pytest.raises(ValidationError, match="callback"):
        Holder.model_validate({"config": {"callback": 1}})


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        (
            "  - step: prune\n    ratio: 1.0\n",
            r"r.yaml:7: steps.0.ratio: Value error, ratio must be in \[0, 1\)",
        ),
        (
            "  - step: prune\n    ratio: 0.5\n    importance: magic\n",
            r"r.yaml:8: steps.0.importance: Input should be",
        ),
        ("  - step: prune\n    ratio: 0.5\n    colour: red\n", r"r.yaml:8: steps.0.colour: Extra inputs"),
        (
            "  - step: prune\n    ratio: 0.5\n    target_macs: 1000\n",
            r"r.yaml:7: steps.0.ratio: Value error, give one of ratio .* or target_macs .*, not both",
        ),
        (
            "  - step: quantize\n    calibrator: magic\n",
            r"r.yaml:7: steps.0.calibrator: Input should be 'minmax'",
        ),
    ],
)
def test_config_errors_name_file_line_and_key(tmp_path: Path, steps: str, message: str) -> None:
    with pytest.raises(RecipeError, match=message):
        _load(tmp_path, steps)


def test_order_rules_come_from_the_step_classes(tmp_path: Path) -> None:
    assert [c.__name__ for c in ordered()] == [
        "TrainStep",
        "SearchStep",
        "PruneStep",
        "QuantizeStep",
        "ExportStep",
        "ProfileStep",
        "VerifyStep",
    ]
    assert set(STEPS) == {"train", "search", "prune", "quantize", "export", "profile", "verify"}
    assert must_precede("verify") == {"export", "quantize", "prune", "search", "train"}
    assert order_text() == "train, search, prune, quantize, export, profile/verify"
    with pytest.raises(
        RecipeError, match=r"verify needs files: put a step that writes them \(export, search\)"
    ):
        _load(tmp_path, "  - step: train\n  - step: verify\n")
    with pytest.raises(RecipeError, match="each step may appear once"):
        _load(tmp_path, "  - step: train\n  - step: train\n")
    onnx = BASE.replace("  demo: cnn", "  onnx: m.onnx")
    with pytest.raises(
        RecipeError, match="ONNX model source can only go through the steps export, profile, verify"
    ):
        _load(tmp_path, "  - step: train\n", base=onnx)
    assert [s.needs for s in _load(tmp_path, "  - step: export\n  - step: profile\n", base=onnx).steps] == [
        Needs.MODEL,
        Needs.FILES,
    ]


def test_taylor_importance_prunes_with_a_training_batch(tmp_path: Path) -> None:
    recipe = _load(
        tmp_path,
        "  - step: train\n    epochs: 1\n  - step: prune\n    ratio: 0.5\n    importance: taylor\n    epochs: 0\n",
    )
    summary = run(recipe, out=tmp_path / "out")
    assert summary.ok, summary.stages[-1].error
    train, prune = summary.stages
    assert prune.params is not None and train.params is not None and prune.params < train.params / 2


NEW_STEP = """
import json, sys
from typing import Literal
from edgekit.recipes.stages.base import Needs, Step

class LowRankStep(Step):
    step: Literal["lowrank"]
    energy: float = 0.9
    after = ("train",)
    before = ("quantize",)
    needs = Needs.TORCH_MODEL

    def run(self, ctx, record):
        import edgekit as ek
        ctx.artifact.model = ek.lowrank(ctx.artifact.model, energy=self.energy)
        ctx.describe(record)

from edgekit.errors import RecipeError
from edgekit.recipes import Recipe, run
base = {"name": "lr", "model": {"demo": "cnn"}, "data": {"digits": True}}
try:
    Recipe.model_validate(base | {"steps": [{"step": "quantize"}, {"step": "lowrank"}]})
    order_error = ""
except ValueError as exc:
    order_error = str(exc)
steps = [{"step": "train", "epochs": 1}, {"step": "lowrank", "energy": 0.8}]
summary = run(Recipe.model_validate(base | {"steps": steps}), out=sys.argv[1])
print(json.dumps({"order_error": order_error, "ok": summary.ok, "steps": [s.name for s in summary.stages]}))
"""


def test_a_step_class_is_all_it_takes(tmp_path: Path) -> None:
    """A Step subclass defined before the schema loads (as a module in stages/ is) is validated, ordered
    by its after/before and run, with no other file touched. In a subprocess: the registry is global."""
    result = subprocess.run(
        [sys.executable, "-c", NEW_STEP, str(tmp_path / "out")], capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert "step 2 (lowrank) cannot come after step 1 (quantize)" in report["order_error"]
    assert report["ok"] and report["steps"] == ["1-train", "2-lowrank"]
