"""The recipe steps: one module per step, each defining one :class:`Step` subclass.

Every module in this package is imported here, and defining a ``Step`` subclass registers it in
:data:`STEPS`; so a new step is one new module (plus its test). The order rules come from each class's
``after`` and ``before``: :func:`ordered` lists the steps in an order that respects them all.
"""

from __future__ import annotations

import importlib
import pkgutil

from edgekit.recipes.stages.base import STEPS, Artifact, Context, Needs, Progress, Step

for _module in pkgutil.iter_modules(__path__):
    if _module.name != "base":
        importlib.import_module(f"{__name__}.{_module.name}")


def predecessors(name: str) -> tuple[str, ...]:
    """The steps that must come right before ``name``: its ``after`` and the steps naming it in ``before``."""
    cls = STEPS[name]
    unknown = [p for p in (*cls.after, *cls.before) if p not in STEPS]
    if unknown:
        raise TypeError(f"step {name!r} names unknown steps {unknown} in after/before")
    return (*cls.after, *(other for other, c in STEPS.items() if name in c.before))


def must_precede(name: str) -> set[str]:
    """Every step that must come before ``name`` when the recipe has it (transitively)."""
    out: set[str] = set()
    stack = list(predecessors(name))
    while stack:
        p = stack.pop()
        if p not in out:
            out.add(p)
            stack.extend(predecessors(p))
    return out


def _level(name: str, path: tuple[str, ...] = ()) -> int:
    """The step's depth in the predecessor graph (0: nothing must come before it)."""
    if name in path:
        raise TypeError(f"recipe steps {' -> '.join((*path, name))} form a cycle of after/before")
    return 1 + max((_level(p, (*path, name)) for p in predecessors(name)), default=-1)


def _ordered_names() -> list[str]:
    return sorted(STEPS, key=lambda n: (_level(n), n))


def ordered() -> list[type[Step]]:
    """The step classes, each after all of its predecessors (by name within one level)."""
    return [STEPS[name] for name in _ordered_names()]


def order_text() -> str:
    """The order for error messages, e.g. ``train, prune, quantize, export, profile/verify``."""
    groups: dict[int, list[str]] = {}
    for name in _ordered_names():
        groups.setdefault(_level(name), []).append(name)
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
    "predecessors",
]
