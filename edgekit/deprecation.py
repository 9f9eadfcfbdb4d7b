"""One helper for the deprecation path of the old call styles (kept for one release, then removed)."""

from __future__ import annotations

import warnings

REMOVED_IN = "0.3"


def warn_old_style(old: str, new: str, *, stacklevel: int = 3) -> None:
    """Emit a DeprecationWarning that ``old`` goes away in edgekit ``REMOVED_IN`` and ``new`` replaces it."""
    warnings.warn(
        f"{old} is deprecated and will be removed in edgekit {REMOVED_IN}; use {new}",
        DeprecationWarning,
        stacklevel=stacklevel,
    )
