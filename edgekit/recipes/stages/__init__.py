"""The recipe steps: one module per step, each defining one :class:`Step` subclass.

Every module in this package is imported here, and defining a ``Step`` subclass registers it in
:data:`STEPS`; so a new step is one new module (plus its test). :func:`ordered` lists the steps in
an order that respects every ``after``.
"""

from __future__ import annotations

import importlib
import pkgutil

from edgekit.recipes.stages.base import STEPS, Artifact, Context, Needs, Progress, Step

for _module in pkgutil.iter_modules(__path__):
    if _module.name != "base":
        importlib.import_module(f"{__name__}.{_module.name}")


def _levels() -> dict[str, int]:
    """Each step's depth in the ``after`` graph (0: nothing must come before it)."""
    levels: dict[str, int] = {}

    def level(name: str, path: tuple[str, ...]) -> int:
        if name in path:
            raise TypeError(f"recipe steps {' -> '.join((*path, name))} form a cycle of 'after'")
        if name not in levels:
            unknown = [p for p in STEPS[name].after if p not in STEPS]
            if unknown:
                raise TypeError(f"step {name!r} comes after unknown steps {unknown}")
            levels[name] = 1 + max((level(p, (*path, name)) for p in STEPS[name].after), default=-1)
        return levels[name]

    for name in STEPS:
        level(name, ())
    return levels


LEVELS = _levels()
for _name in sorted(STEPS, key=lambda n: LEVELS[n]):  # STEPS in an order that respects every `after`
    STEPS[_name] = STEPS.pop(_name)


def ordered() -> list[type[Step]]:
    """The step classes, each after all of its predecessors."""
    return list(STEPS.values())


def must_precede(name: str) -> set[str]:
    """Every step that must come before ``name`` when the recipe has it (``after``, transitively)."""
    out: set[str] = set()
    stack = list(STEPS[name].after)
    while stack:
        p = stack.pop()
        if p not in out:
            out.add(p)
            stack.extend(STEPS[p].after)
    return out


def order_text() -> str:
    """The order for error messages, e.g. ``train, prune, quantize, export, verify/profile``."""
    groups: dict[int, list[str]] = {}
    for name in STEPS:
        groups.setdefault(LEVELS[name], []).append(name)
    return ", ".join("/".join(groups[lvl]) for lvl in sorted(groups))


__all__ = [
    "STEPS",
    "Artifact",
    "Context",
    "Needs",
    "Progress",
    "Step",
    "must_precede",
    "order_text",
    "ordered",
]
