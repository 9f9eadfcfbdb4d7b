"""The ``search`` recipe step: validated with the recipe (file:line), run end to end into verify."""

from __future__ import annotations

import textwrap

import pytest

import edgekit as ek
from edgekit.recipes import load_recipe

RECIPE = """\
name: searched
model:
  demo: cnn
data:
  digits: true
steps:
  - step: train
    epochs: 2
  - step: search
    space:
      prune_ratio: [0.0, 0.5]
      distill: [false]
      finetune_epochs: [1]
      quant: [{quant}]
    search:
      budget: 2
      runs: 20
      warmup: 2
  - step: verify
"""


def _write(tmp_path, quant: str = "int8_ptq"):
    path = tmp_path / "recipe.yaml"
    path.write_text(textwrap.dedent(RECIPE.format(quant=quant)))
    return path


def test_bad_search_space_is_a_recipe_error_with_its_line(tmp_path):
    with pytest.raises(ek.RecipeError) as err:
        load_recipe(_write(tmp_path, quant="int4"))
    message = str(err.value)
    assert "recipe.yaml:9: steps.1" in message  # the line of the search step
    assert "int4" in message


@pytest.mark.slow
def test_search_step_hands_the_chosen_file_to_verify(tmp_path):
    summary = ek.run(_write(tmp_path), out=tmp_path / "run")
    assert summary.ok, summary.failed_steps
    search, verify = summary.stages[1], summary.stages[2]
    assert search.files["tflite"].endswith(".tflite")
    assert (tmp_path / "run" / "search" / "search.html").is_file()
    assert verify.parity["accuracy"]["tflite"] == pytest.approx(search.accuracy, abs=1e-9)
