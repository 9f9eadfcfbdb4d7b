"""Embed a frozen config dataclass (``PruneConfig``, ``QuantConfig``, ...) in a recipe step's schema.

The step's YAML keys for the config are generated from the dataclass fields, with the dataclass
defaults, so a field added to the dataclass appears in recipes without touching the schema, and the
defaults cannot drift. Field types are narrowed to what YAML can express (``Importance | str | Any``
becomes the ``Importance`` enum, ``Sequence[str | nn.Module]`` a list of names); a field with no YAML
form (a callable, a module) is left at its default. The dataclass itself validates the values
(``__post_init__``); its error becomes the recipe error at the step's line.

>>> from dataclasses import dataclass
>>> @dataclass(frozen=True)
... class Demo:
...     ratio: float = 0.5
...     names: tuple[str, ...] = ()
>>> sorted(yaml_fields(Demo))
['names', 'ratio']
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Sequence
from enum import Enum
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, GetCoreSchemaHandler, create_model
from pydantic_core import core_schema

from edgekit.errors import EdgekitError

_SCALARS = (bool, int, float, str, type(None))


def _yaml_type(tp: Any) -> Any | None:
    """``tp`` narrowed to what a YAML value can be, or None when it has no YAML form."""
    origin = get_origin(tp)
    if tp in _SCALARS or origin is Literal or (isinstance(tp, type) and issubclass(tp, Enum)):
        return tp
    if origin in (Union, types.UnionType):
        members = [m for m in (_yaml_type(a) for a in get_args(tp)) if m is not None]
        if any(isinstance(m, type) and issubclass(m, Enum) for m in members):
            members = [m for m in members if m is not str]  # "l2" validates as the enum, naming the choices
        if not [m for m in members if m is not type(None)]:
            return None
        return Union[tuple(members)]  # noqa: UP007 - built from a runtime tuple
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):  # a nested config (QuantConfig.auto_keep)
        return Annotated[tp, EmbeddedConfig(tp)]
    if origin in (tuple, list, Sequence):
        args = [a for a in get_args(tp) if a is not Ellipsis]
        item = _yaml_type(args[0]) if len(args) == 1 else None
        return None if item is None else tuple[item, ...]  # type: ignore[valid-type]
    return None


def _default(f: dataclasses.Field[Any]) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return ...


def yaml_fields(config_class: type) -> dict[str, tuple[Any, Any]]:
    """``{name: (yaml type, default)}`` for the fields of a config dataclass that YAML can express."""
    hints = typing.get_type_hints(config_class)
    out = {}
    for f in dataclasses.fields(config_class):
        tp = _yaml_type(hints[f.name])
        if tp is not None and f.init:
            out[f.name] = (tp, _default(f))
    return out


def _fields_of(value: Any) -> Any:
    """A nested config dataclass as the dict of its fields (what its embedded model validates)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    return value


class _Fields(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EmbeddedConfig:
    """Pydantic metadata: ``config: Annotated[PruneConfig, EmbeddedConfig(PruneConfig)]`` validates plain
    YAML values into a ``PruneConfig`` (and dumps it back to them for the cache key)."""

    def __init__(self, config_class: type) -> None:
        self.config_class = config_class
        self.fields = yaml_fields(config_class)
        self.model = create_model(  # type: ignore[call-overload]
            f"{config_class.__name__}Fields", __base__=_Fields, **self.fields
        )

    def build(self, values: BaseModel) -> Any:
        try:
            return self.config_class(**{name: getattr(values, name) for name in self.fields})
        except EdgekitError as exc:
            raise ValueError(str(exc)) from None

    def dump(self, config: Any) -> dict[str, Any]:
        values = {name: _fields_of(getattr(config, name)) for name in self.fields}
        dumped: dict[str, Any] = self.model.model_validate(values).model_dump(mode="json")
        return dumped

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> Any:
        return core_schema.no_info_after_validator_function(
            self.build,
            handler.generate_schema(self.model),
            serialization=core_schema.plain_serializer_function_ser_schema(self.dump),
        )
