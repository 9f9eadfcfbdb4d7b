"""``VerbConfig``: the small base every verb's settings dataclass shares.

Each workflow (quantize, prune, distill, lowrank, sparsify, export, convert, compare, profile) takes one
frozen dataclass, after torchao's ``AOBaseConfig``: the settings are plain data, checked when built,
so a bad value fails at the line that wrote it, and they serialise to a versioned dict (the recipe
schema and ``summary.json`` store them). Enum fields take their values as strings too and are coerced
in ``__post_init__``; ``to_dict`` writes enums as their values and tuples as lists.

>>> from edgekit.sparsity import SparsifyConfig
>>> SparsifyConfig(sparsity=0.5).to_dict()
{'version': 1, 'sparsity': 0.5, 'scope': 'global'}
>>> SparsifyConfig.from_dict({'version': 1, 'sparsity': 0.5, 'scope': 'local'}).scope
<SparsityScope.LOCAL: 'local'>
"""

from __future__ import annotations

import dataclasses
from enum import Enum
from typing import Any, ClassVar, TypeVar

from edgekit.errors import ConfigError

C = TypeVar("C", bound="VerbConfig")


def _plain(value: Any) -> Any:
    if isinstance(value, VerbConfig):  # a nested config (ExportConfig.nms)
        return value.to_dict()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def coerce_enum(config: Any, name: str, enum: type[Enum], error: type[Exception] = ConfigError) -> None:
    """Replace ``config.<name>`` (a frozen dataclass field) by its ``enum`` member; a bad value is ``error``."""
    value = getattr(config, name)
    try:
        object.__setattr__(config, name, enum(value))
    except ValueError:
        choices = ", ".join(repr(m.value) for m in enum)  # type: ignore[var-annotated]
        raise error(f"{name} must be one of {choices}, got {value!r}") from None


class VerbConfig:
    """Mixin for frozen dataclasses: ``version``, ``to_dict()`` and ``from_dict()``.

    ``VERSION`` is bumped when a field changes meaning; ``from_dict`` refuses a newer version and unknown
    keys (a typo would otherwise be silently ignored) with a :class:`~edgekit.errors.ConfigError`.
    """

    VERSION: ClassVar[int] = 1

    @property
    def version(self) -> int:
        return self.VERSION

    def to_dict(self) -> dict[str, Any]:
        """``{"version": N, field: value, ...}`` with enums as their values and tuples as lists."""
        data: dict[str, Any] = {"version": self.VERSION}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            data[f.name] = _plain(getattr(self, f.name))
        return data

    @classmethod
    def from_dict(cls: type[C], data: dict[str, Any]) -> C:
        """Build the config from ``to_dict()`` output (``version`` optional); values are validated as usual."""
        if not isinstance(data, dict):
            raise ConfigError(f"{cls.__name__}.from_dict takes a dict, got {type(data).__name__}")
        values = dict(data)
        version = values.pop("version", cls.VERSION)
        if not isinstance(version, int) or not 1 <= version <= cls.VERSION:
            raise ConfigError(
                f"{cls.__name__} version {version!r} is not supported (this edgekit reads 1..{cls.VERSION}): "
                "upgrade edgekit or write the config again"
            )
        fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(values) - set(fields))
        if unknown:
            raise ConfigError(
                f"{cls.__name__} has no field(s) {', '.join(map(repr, unknown))}; its fields are "
                f"{', '.join(fields)}"
            )
        for name, value in values.items():
            if isinstance(value, list):  # lists come back from JSON / YAML; fields hold tuples
                values[name] = tuple(value)
        return cls(**values)
