"""Read a recipe file: YAML -> validated :class:`Recipe`, errors with file, line and key."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from edgekit.errors import RecipeError
from edgekit.recipes.schema import Recipe
from edgekit.recipes.stages import STEPS
from edgekit.recipes.stages.base import CONFIG_FIELD


def _node_at(node: Any, loc: tuple[Any, ...]) -> Any:
    """The YAML node at a pydantic error location (mapping keys and sequence indices)."""
    import yaml

    current = node
    for part in loc:
        if isinstance(current, yaml.MappingNode):
            match = next(((k, v) for k, v in current.value if k.value == part), None)
            if match is None:
                return current
            current = match[1]
        elif isinstance(current, yaml.SequenceNode) and isinstance(part, int) and part < len(current.value):
            current = current.value[part]
        else:
            return current
    return current


def load_recipe(path: str | os.PathLike[str]) -> Recipe:
    """Parse and validate ``path``; relative file paths in it are relative to the recipe's folder."""
    import yaml
    from pydantic import ValidationError

    file = Path(path)
    if not file.is_file():
        raise RecipeError(f"recipe file not found: {file}")
    text = file.read_text()
    try:
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{file}:{mark.line + 1}" if mark else str(file)
        raise RecipeError(f"{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from exc
    if not isinstance(data, dict):
        raise RecipeError(f"{file}: a recipe is a mapping with model, data and steps")
    try:
        recipe = Recipe.model_validate(data)
    except ValidationError as exc:
        messages = []
        for err in exc.errors():
            loc = tuple(err["loc"])
            if len(loc) > 2 and loc[0] == "steps" and loc[2] in STEPS:  # drop the union's tag
                loc = loc[:2] + (_config_key(err, loc[3:], data["steps"][loc[1]]) if loc[3:] else ())
            node = _node_at(root, loc)
            line = node.start_mark.line + 1 if node is not None else "?"
            key = ".".join(str(p) for p in loc) or "(top level)"
            messages.append(f"{file}:{line}: {key}: {err['msg']}")
        raise RecipeError("invalid recipe:\n" + "\n".join(messages)) from exc
    return _resolve_paths(recipe, file.parent)


def _config_key(err: Any, rest: tuple[Any, ...], step: Any) -> tuple[Any, ...]:
    """The location inside a step: an embedded config's keys sit on the step itself; an error of the
    config as a whole (its dataclass's check) points at the first key of the step that it names."""
    if rest[0] != CONFIG_FIELD:
        return rest
    if len(rest) > 1 or not isinstance(step, dict):
        return rest[1:]
    named = [(m.start(), k) for k in step if (m := re.search(rf"\b{re.escape(str(k))}\b", err["msg"]))]
    return (min(named)[1],) if named else ()


def _resolve_paths(recipe: Recipe, base: Path) -> Recipe:
    def fix(model: Any, fields: tuple[str, ...]) -> Any:
        updates = {
            f: base / getattr(model, f)
            for f in fields
            if getattr(model, f) is not None and not Path(getattr(model, f)).is_absolute()
        }
        return model.model_copy(update=updates) if updates else model

    return recipe.model_copy(
        update={
            "model": fix(recipe.model, ("onnx", "state_dict")),
            "data": fix(recipe.data, ("npz", "images")),
        }
    )
