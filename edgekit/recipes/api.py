"""``ek.run``: the recipe runner's entry point. Imports nothing heavy, so that the logging switch
(:mod:`edgekit.logs`) acts before torch and TensorFlow load."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from edgekit.errors import RecipeError
from edgekit.logs import quiet_third_party

if TYPE_CHECKING:
    from edgekit.recipes.records import RunSummary
    from edgekit.recipes.schema import Recipe
    from edgekit.recipes.stages import Progress


def run(
    recipe_or_path: Recipe | str | Path,
    *,
    out: str | Path,
    force: bool = False,
    progress: Progress | None = None,
) -> RunSummary:
    """Run a recipe (a :class:`Recipe` or a YAML path) into the folder ``out``.

    Writes the artifacts, ``summary.json`` and a self-contained ``report.html``. A failing step is
    recorded (and named in the report) instead of raised; check ``summary.ok``. Known-harmless
    third-party logs are silenced unless ``EDGEKIT_LOG=debug`` (see :mod:`edgekit.logs`).
    """
    quiet_third_party()
    from edgekit.recipes.loader import load_recipe
    from edgekit.recipes.runner import Runner
    from edgekit.recipes.schema import Recipe

    if isinstance(recipe_or_path, str | Path):
        recipe = load_recipe(recipe_or_path)
    elif isinstance(recipe_or_path, Recipe):
        recipe = recipe_or_path
    else:
        raise RecipeError("run() takes a Recipe or the path of a recipe file")
    return Runner(recipe, Path(out), force=force, progress=progress).run()
