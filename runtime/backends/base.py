"""What every runtime backend provides to :class:`edgekit.runtime.Model`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np


@dataclass(frozen=True)
class FileTensor:
    """A tensor as the model file declares it (file layout, file dtype)."""

    name: str
    shape: tuple[int | None, ...]
    dtype: np.dtype
    scale: float | None = None
    zero_point: int | None = None

    @property
    def quantized(self) -> bool:
        return self.scale is not None and np.issubdtype(self.dtype, np.integer)


class Backend(Protocol):
    """A loaded model in one runtime. ``run`` takes and returns arrays in file layout and dtype."""

    name: str
    runtime: str
    delegate: str
    threads: int | None
    inputs: list[FileTensor]
    outputs: list[FileTensor]

    def run(self, arrays: list[np.ndarray]) -> list[np.ndarray]: ...

    def op_histogram(self) -> dict[str, int]: ...

    def delegate_coverage(self) -> dict[str, Any]: ...

    def op_times(self, arrays: list[np.ndarray], runs: int) -> dict[str, dict[str, float]] | None: ...
