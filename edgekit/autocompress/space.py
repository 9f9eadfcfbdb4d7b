"""``SearchSpace``: what a compression search may vary, validated; ``TrialParams``: one sampled point.

Imports nothing heavy: Optuna is imported by :func:`sample` only when a trial asks for its parameters.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

from edgekit.errors import SearchSpaceError

IMPORTANCES: tuple[str, ...] = ("l1", "l2", "bn_scale", "taylor", "random")
SCOPES: tuple[str, ...] = ("local", "global")
CALIBRATORS: tuple[str, ...] = ("minmax", "moving_average", "percentile", "mse")


class QuantMode(str, enum.Enum):
    """How a trial quantizes: a :class:`edgekit.QuantScheme` (``QuantConfig(scheme=...)``) and PTQ or QAT.

    ``int8_ptq`` / ``int16x8_ptq`` calibrate on the training split, ``int8_qat`` trains ``qat_epochs``
    with fake quantization, ``float16`` / ``dynamic_int8`` need no calibration (weights only).
    """

    FLOAT = "float"
    INT8_PTQ = "int8_ptq"
    INT8_QAT = "int8_qat"
    INT16X8_PTQ = "int16x8_ptq"
    FLOAT16 = "float16"
    DYNAMIC_INT8 = "dynamic_int8"

    @property
    def scheme(self) -> str | None:
        """The ``QuantConfig.scheme`` of this mode (``None`` for float)."""
        return _SCHEMES[self]

    @property
    def calibrated(self) -> bool:
        """True for the modes whose activation ranges are calibrated (calibrator, keep_float apply)."""
        return self in (QuantMode.INT8_PTQ, QuantMode.INT8_QAT, QuantMode.INT16X8_PTQ)

    @property
    def qat(self) -> bool:
        return self is QuantMode.INT8_QAT


_SCHEMES: dict[QuantMode, str | None] = {
    QuantMode.FLOAT: None,
    QuantMode.INT8_PTQ: "int8",
    QuantMode.INT8_QAT: "int8",
    QuantMode.INT16X8_PTQ: "int16x8",
    QuantMode.FLOAT16: "float16",
    QuantMode.DYNAMIC_INT8: "dynamic_int8",
}


Where = Mapping[str, int]
"""key -> line number of the file a space was read from (for error messages)."""


def _fail(key: str, problem: str, fix: str, source: str | None, lines: Where | None) -> SearchSpaceError:
    line = (lines or {}).get(key)
    where = f"{source}:{line}: " if source and line else (f"{source}: " if source else "")
    return SearchSpaceError(f"{where}{key}: {problem}; {fix}")


def _choices(
    key: str, value: Any, allowed: Sequence[Any] | None, kind: type | tuple[type, ...], ctx: tuple[Any, Any]
) -> tuple[Any, ...]:
    items = tuple(value) if isinstance(value, (list, tuple)) else (value,)
    if not items:
        raise _fail(key, "the list of choices is empty", "give at least one value", *ctx)
    for item in items:
        if not isinstance(item, kind) or (isinstance(item, bool) and bool not in _as_tuple(kind)):
            raise _fail(key, f"{item!r} has the wrong type", f"use values of type {_names(kind)}", *ctx)
        if allowed is not None and item not in allowed:
            raise _fail(key, f"unknown value {item!r}", f"choose from {', '.join(map(str, allowed))}", *ctx)
    if len(set(items)) != len(items):
        raise _fail(key, f"repeated values in {list(items)}", "list each choice once", *ctx)
    return items


def _as_tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _names(kind: type | tuple[type, ...]) -> str:
    return " or ".join(k.__name__ for k in _as_tuple(kind))


def _range(key: str, value: Any, low: float, high: float, ctx: tuple[Any, Any]) -> tuple[float, float] | None:
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = (value, value)
    if (
        not isinstance(value, (list, tuple))
        or len(value) != 2
        or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
    ):
        raise _fail(key, f"{value!r} is not a [low, high] pair", f"write e.g. [{low}, {high}]", *ctx)
    lo, hi = float(value[0]), float(value[1])
    if not (low <= lo <= hi <= high) or math.isnan(lo + hi):
        raise _fail(
            key,
            f"[{lo}, {hi}] is outside [{low}, {high}] or reversed",
            f"use {low} <= low <= high <= {high}",
            *ctx,
        )
    return lo, hi


@dataclass(frozen=True)
class SearchSpace:
    """The compression choices a search explores (each a tuple of choices or a ``(low, high)`` range).

    * ``prune_ratio``: fraction of channels removed, a ``(low, high)`` range (0 = no pruning).
    * ``target_macs``: alternative to ``prune_ratio``: a ``(low, high)`` range of the MACs to keep, as a
      fraction of the base model's MACs (pruning stops when MACs <= target).
    * ``importance`` (l1, l2, bn_scale, taylor, random), ``scope`` (local = per layer, global).
    * ``distill``: fine-tune against the unpruned model (knowledge distillation) or plain labels.
    * ``finetune_epochs``: epochs of fine-tuning after pruning (choices).
    * ``quant``: :class:`QuantMode` values (float, int8 PTQ / QAT, int16x8 PTQ, float16, dynamic-range
      int8); ``calibrator``: activation-range estimators for the calibrated modes.
    * ``keep_float``: how many of the most quantization-sensitive layers (``ek.sensitivity``) stay float
      (calibrated modes only).
    * ``resolution``: input sizes (square) the model may be retrained at; ``None`` = the data as given.
    * ``qat_epochs``: QAT epochs (choices) when the mode is ``int8_qat``; with ``distill`` the QAT epochs
      train against the unpruned model too. ``round_to``: channel multiple kept.

    >>> space = SearchSpace.from_dict({"prune_ratio": [0.0, 0.5], "quant": ["float", "int8_ptq"]})
    >>> space.quant
    (<QuantMode.FLOAT: 'float'>, <QuantMode.INT8_PTQ: 'int8_ptq'>)
    """

    prune_ratio: tuple[float, float] | None = (0.0, 0.75)
    target_macs: tuple[float, float] | None = None
    importance: tuple[str, ...] = ("l1", "l2", "bn_scale")
    scope: tuple[str, ...] = ("local", "global")
    distill: tuple[bool, ...] = (False, True)
    finetune_epochs: tuple[int, ...] = (3,)
    quant: tuple[QuantMode, ...] = (
        QuantMode.FLOAT,
        QuantMode.INT8_PTQ,
        QuantMode.INT8_QAT,
        QuantMode.FLOAT16,
        QuantMode.DYNAMIC_INT8,
    )
    calibrator: tuple[str, ...] = ("minmax", "percentile", "mse")
    keep_float: tuple[int, ...] = (0,)
    resolution: tuple[int | None, ...] = (None,)
    qat_epochs: tuple[int, ...] = (2,)
    round_to: int | None = 8

    def __post_init__(self) -> None:
        try:  # accept plain strings for the modes, as from_dict does
            object.__setattr__(self, "quant", tuple(QuantMode(m) for m in self.quant))
        except ValueError as exc:
            raise SearchSpaceError(
                f"quant: {exc}; choose from {', '.join(m.value for m in QuantMode)}"
            ) from exc
        if isinstance(self.qat_epochs, int):  # one value, as earlier releases took it
            object.__setattr__(self, "qat_epochs", (self.qat_epochs,))

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], *, source: str | None = None, lines: Where | None = None
    ) -> SearchSpace:
        """Validate a mapping (e.g. from YAML); errors name ``source:line`` when ``lines`` are given."""
        ctx = (source, lines)
        if not isinstance(data, Mapping):
            raise _fail(
                "search", f"expected a mapping, got {type(data).__name__}", "write key: value pairs", *ctx
            )
        known = {f.name for f in fields(cls)}
        for key in data:
            if key not in known:
                raise _fail(str(key), "unknown key", f"use one of {', '.join(sorted(known))}", *ctx)
        out: dict[str, Any] = {}
        d = dict(data)
        if "prune_ratio" in d:
            out["prune_ratio"] = _range("prune_ratio", d["prune_ratio"], 0.0, 0.95, ctx)
        if "target_macs" in d:
            out["target_macs"] = _range("target_macs", d["target_macs"], 0.01, 1.0, ctx)
            if out["target_macs"] is not None and "prune_ratio" not in d:
                out["prune_ratio"] = None
        if "importance" in d:
            out["importance"] = _choices("importance", d["importance"], IMPORTANCES, str, ctx)
        if "scope" in d:
            out["scope"] = _choices("scope", d["scope"], SCOPES, str, ctx)
        if "distill" in d:
            out["distill"] = _choices("distill", d["distill"], None, bool, ctx)
        if "finetune_epochs" in d:
            out["finetune_epochs"] = _non_negative("finetune_epochs", d["finetune_epochs"], ctx)
        if "quant" in d:
            modes = [m.value for m in QuantMode]
            out["quant"] = tuple(QuantMode(v) for v in _choices("quant", d["quant"], modes, str, ctx))
        if "calibrator" in d:
            out["calibrator"] = _choices("calibrator", d["calibrator"], CALIBRATORS, str, ctx)
        if "keep_float" in d:
            out["keep_float"] = _non_negative("keep_float", d["keep_float"], ctx)
        if "resolution" in d:
            res = _choices("resolution", d["resolution"], None, (int, type(None)), ctx)
            if any(r is not None and r < 2 for r in res):
                raise _fail(
                    "resolution", f"{list(res)} has a size < 2", "use input sizes >= 2 (or null)", *ctx
                )
            out["resolution"] = res
        if "qat_epochs" in d:
            out["qat_epochs"] = _non_negative("qat_epochs", d["qat_epochs"], ctx)
        if "round_to" in d:
            value = d["round_to"]
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
                raise _fail("round_to", f"{value!r} is not a non-negative integer", "write e.g. 8", *ctx)
            out["round_to"] = value
        space = cls(**out)
        if space.prune_ratio is not None and space.target_macs is not None:
            raise _fail("target_macs", "given together with prune_ratio", "search one of the two", *ctx)
        if space.prune_ratio is None and space.target_macs is None:
            raise _fail(
                "prune_ratio", "neither prune_ratio nor target_macs is set", "set one (0 = no pruning)", *ctx
            )
        return space

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["quant"] = [m.value for m in self.quant]
        data["qat_epochs"] = list(self.qat_epochs)
        return data


def _non_negative(key: str, value: Any, ctx: tuple[Any, Any]) -> tuple[int, ...]:
    items = _choices(key, value, None, int, ctx)
    if any(v < 0 for v in items):
        raise _fail(key, f"{list(items)} has a negative value", "use integers >= 0", *ctx)
    return items


@dataclass(frozen=True)
class TrialParams:
    """One point of a :class:`SearchSpace`, as sampled for a trial."""

    prune_ratio: float = 0.0
    target_macs: float | None = None
    importance: str = "l2"
    scope: str = "local"
    distill: bool = False
    finetune_epochs: int = 0
    quant: QuantMode = QuantMode.FLOAT
    calibrator: str = "minmax"
    keep_float: int = 0
    resolution: int | None = None
    qat_epochs: int = 0
    round_to: int | None = None

    @property
    def prunes(self) -> bool:
        return self.target_macs is not None or self.prune_ratio > 0

    def compress_key(self) -> dict[str, Any]:
        """The parameters of the torch-side prefix (resize, prune, fine-tune)."""
        keys = ("resolution", "prune_ratio", "target_macs", "importance", "scope", "round_to")
        data = {k: getattr(self, k) for k in keys} if self.prunes else {"resolution": self.resolution}
        tuned = self.prunes or self.resolution is not None
        data["finetune_epochs"] = self.finetune_epochs if tuned else 0
        data["distill"] = self.distill if tuned and self.finetune_epochs else False
        return data

    def quant_key(self) -> dict[str, Any]:
        """The parameters of the quantize + export suffix."""
        if self.quant is QuantMode.FLOAT:
            return {"quant": self.quant.value}
        data: dict[str, Any] = {"quant": self.quant.value}
        if self.quant.calibrated:
            data["calibrator"] = self.calibrator
            data["keep_float"] = self.keep_float
        if self.quant.qat:
            data["qat_epochs"] = self.qat_epochs
            data["distill"] = self.distill
        return data

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["quant"] = self.quant.value
        return data


def sample(trial: Any, space: SearchSpace) -> TrialParams:
    """Ask an Optuna trial for one point of ``space`` (categoricals for choices, floats for ranges)."""

    def pick(name: str, choices: tuple[Any, ...]) -> Any:
        return choices[0] if len(choices) == 1 else trial.suggest_categorical(name, list(choices))

    def between(name: str, bounds: tuple[float, float]) -> float:
        lo, hi = bounds
        return (
            lo
            if lo == hi
            else round(trial.suggest_float(name, lo, hi, step=0.05 if hi - lo >= 0.05 else None), 4)
        )

    ratio = between("prune_ratio", space.prune_ratio) if space.prune_ratio is not None else 0.0
    macs = between("target_macs", space.target_macs) if space.target_macs is not None else None
    prunes = macs is not None or ratio > 0
    resolution = pick("resolution", space.resolution)
    importance = pick("importance", space.importance) if prunes else space.importance[0]
    scope = pick("scope", space.scope) if prunes else space.scope[0]
    tuned = prunes or resolution is not None
    epochs = pick("finetune_epochs", space.finetune_epochs) if tuned else 0
    quant = QuantMode(pick("quant", tuple(m.value for m in space.quant)))
    qat_epochs = pick("qat_epochs", space.qat_epochs) if quant.qat else 0
    distill = pick("distill", space.distill) if (tuned and epochs) or qat_epochs else False
    calibrator = pick("calibrator", space.calibrator) if quant.calibrated else space.calibrator[0]
    keep = pick("keep_float", space.keep_float) if quant.calibrated else 0
    return TrialParams(
        prune_ratio=ratio,
        target_macs=macs,
        importance=importance,
        scope=scope,
        distill=distill,
        finetune_epochs=epochs,
        quant=quant,
        calibrator=calibrator,
        keep_float=keep,
        resolution=resolution,
        qat_epochs=qat_epochs,
        round_to=space.round_to,
    )
