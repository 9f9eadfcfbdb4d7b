"""Recipes: one YAML file takes a model through train, prune, quantize, export, verify and profile.

>>> from edgekit.recipes import Recipe
>>> Recipe.model_validate({"model": {"demo": "cnn"}, "data": {"digits": True}, "steps": [{"step": "train"}]}).name
'edgekit'
"""

from edgekit.recipes.loader import load_recipe
from edgekit.recipes.runner import RunSummary, StageRecord, run
from edgekit.recipes.schema import Recipe

__all__ = ["Recipe", "RunSummary", "StageRecord", "load_recipe", "run"]
