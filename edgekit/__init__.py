"""edgekit: take a PyTorch model to an edge device.

Compress (quantize, prune, distill, low-rank), convert (ONNX, TFLite int8), run and profile.

Importing ``edgekit`` is cheap: the public functions below are loaded on first use, so that
``import edgekit.runtime`` works on a device with only numpy and one interpreter installed
(no torch, no tensorflow).

>>> import edgekit as ek
>>> ek.EdgekitError.__name__
'EdgekitError'
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from edgekit.errors import (
    ConstraintError,
    ConversionError,
    DelegateUnavailableError,
    DeviceConnectionError,
    DeviceError,
    EdgekitError,
    ExportError,
    HostKeyError,
    InputSpecError,
    ModelFileError,
    OutputPathError,
    ParityError,
    PruningError,
    QuantizationError,
    RecipeError,
    RemoteDependencyError,
    RuntimeUnavailableError,
    SearchError,
    SearchSpaceError,
    SearchStorageError,
    StepError,
    UnsupportedOpError,
)

__version__ = "0.1.0"

# public name -> module that defines it (imported on first attribute access)
_LAZY: dict[str, str] = {
    "export": "edgekit.converters.api",
    "convert": "edgekit.converters.api",
    "ExportResult": "edgekit.converters.api",
    "compare": "edgekit.converters.parity",
    "ParityReport": "edgekit.converters.parity",
    "quantize": "edgekit.quantization",
    "prepare_qat": "edgekit.quantization",
    "finalize": "edgekit.quantization",
    "QuantConfig": "edgekit.quantization",
    "sensitivity": "edgekit.quantization",
    "prune": "edgekit.pruning",
    "PruneResult": "edgekit.pruning",
    "distill_loss": "edgekit.distill",
    "Distiller": "edgekit.distill",
    "lowrank": "edgekit.factorize",
    "sparsify": "edgekit.sparsity",
    "run": "edgekit.recipes",
    "RunSummary": "edgekit.recipes",
    "Recipe": "edgekit.recipes",
    "search": "edgekit.autocompress",
    "SearchSpace": "edgekit.autocompress",
    "SearchConfig": "edgekit.autocompress",
    "SearchResult": "edgekit.autocompress",
}

__all__ = [
    "ConstraintError",
    "ConversionError",
    "DelegateUnavailableError",
    "DeviceConnectionError",
    "DeviceError",
    "Distiller",
    "EdgekitError",
    "ExportError",
    "ExportResult",
    "HostKeyError",
    "InputSpecError",
    "ModelFileError",
    "OutputPathError",
    "ParityError",
    "ParityReport",
    "PruneResult",
    "PruningError",
    "QuantConfig",
    "QuantizationError",
    "Recipe",
    "RecipeError",
    "RemoteDependencyError",
    "RunSummary",
    "RuntimeUnavailableError",
    "SearchConfig",
    "SearchError",
    "SearchResult",
    "SearchSpace",
    "SearchSpaceError",
    "SearchStorageError",
    "StepError",
    "UnsupportedOpError",
    "__version__",
    "compare",
    "convert",
    "distill_loss",
    "export",
    "finalize",
    "lowrank",
    "prepare_qat",
    "prune",
    "quantize",
    "run",
    "search",
    "sensitivity",
    "sparsify",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'edgekit' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from edgekit.autocompress import SearchConfig, SearchResult, SearchSpace, search
    from edgekit.converters.api import ExportResult, convert, export
    from edgekit.converters.parity import ParityReport, compare
    from edgekit.distill import Distiller, distill_loss
    from edgekit.factorize import lowrank
    from edgekit.pruning import PruneResult, prune
    from edgekit.quantization import QuantConfig, finalize, prepare_qat, quantize, sensitivity
    from edgekit.recipes import Recipe, RunSummary, run
    from edgekit.sparsity import sparsify
