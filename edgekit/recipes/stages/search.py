"""``search``: find compression settings for the target device with :func:`edgekit.search` (Optuna).

The step takes the trained model and the recipe's data, runs the search into ``<out>/search/`` (resumable:
a re-run continues the same study), and hands the chosen trial's ``.tflite`` on to ``verify`` / ``profile``.
``space`` and ``search`` hold the keys of :class:`~edgekit.autocompress.SearchSpace` and
:class:`~edgekit.autocompress.SearchConfig`, validated when the recipe is loaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from edgekit.recipes.records import StageRecord
from edgekit.recipes.stages.base import Context, Needs, Step


class SearchStep(Step):
    step: Literal["search"]
    space: dict[str, Any] = Field(default_factory=dict)
    search: dict[str, Any] = Field(default_factory=dict)

    after = ("train",)
    before = ("prune", "quantize", "export")
    needs = Needs.TORCH_MODEL
    writes_files = True

    @model_validator(mode="after")
    def _valid(self) -> SearchStep:
        from edgekit.autocompress import SearchConfig, SearchSpace

        try:
            SearchSpace.from_dict(self.space)
            SearchConfig.from_dict({**self.search, "resume": True})
        except Exception as exc:  # the loader turns a ValueError into file:line: key: message
            raise ValueError(str(exc)) from exc
        return self

    def run(self, ctx: Context, record: StageRecord) -> None:
        import edgekit as ek

        a = ctx.artifact
        result = ek.search(
            a.model,
            a.data,
            space=self.space,
            config={**self.search, "resume": True},
            out=ctx.out / "search",
            progress=None,
        )
        chosen = result.chosen or {}
        tflite = result.artifacts.get("tflite")
        if tflite is not None:
            a.files["tflite"] = Path(tflite)
            record.files["tflite"] = str(tflite)
            a.quantized = chosen.get("params", {}).get("quant", "float") != "float"
        record.accuracy = chosen.get("accuracy")
        record.size_bytes = chosen.get("size_bytes")
        record.notes.append(
            f"search: {len(result.complete)} trials complete, {len(result.failed)} failed, "
            f"{len(result.front)} on the Pareto front; chosen trial {chosen.get('number')} "
            f"({result.report})"
        )
