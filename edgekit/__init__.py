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
    ConfigError,
    ConstraintError,
    ConversionError,
    DelegateUnavailableError,
    DeviceConnectionError,
    DeviceError,
    DistillationError,
    EdgekitError,
    ExportError,
    FlatbufferError,
    HostKeyError,
    InputShapeError,
    InputSpecError,
    LowRankError,
    ModelFileError,
    OutputMismatchError,
    OutputPathError,
    ParityError,
    PretrainedWeightsError,
    PruningError,
    QuantizationError,
    RecipeError,
    RemoteDependencyError,
    RuntimeSettingError,
    RuntimeUnavailableError,
    SearchError,
    SearchSpaceError,
    SearchStorageError,
    SparsityError,
    StepError,
    UnsupportedOpError,
)

__version__ = "0.1.0"

# public name -> module that defines it (imported on first attribute access)
_LAZY: dict[str, str] = {
    "export": "edgekit.converters.api",
    "convert": "edgekit.converters.api",
    "ExportResult": "edgekit.converters.api",
    "ExportConfig": "edgekit.converters.api",
    "ConvertConfig": "edgekit.converters.api",
    "NMSConfig": "edgekit.converters.api",
    "BoxFormat": "edgekit.converters.tflite.nms",
    "detection_head": "edgekit.detection",
    "compare": "edgekit.converters.parity",
    "ParityReport": "edgekit.converters.parity",
    "CompareConfig": "edgekit.converters.parity",
    "quantize": "edgekit.quantization",
    "prepare_qat": "edgekit.quantization",
    "finalize": "edgekit.quantization",
    "QuantConfig": "edgekit.quantization",
    "AutoKeep": "edgekit.quantization",
    "AutoKeepReport": "edgekit.quantization",
    "KeepAs": "edgekit.quantization",
    "QuantizeResult": "edgekit.quantization",
    "QuantScheme": "edgekit.quantization",
    "LayerNormMode": "edgekit.quantization",
    "Calibrator": "edgekit.quantization",
    "Equalization": "edgekit.quantization",
    "sensitivity": "edgekit.quantization",
    "prune": "edgekit.pruning",
    "PruneResult": "edgekit.pruning",
    "PruneConfig": "edgekit.pruning",
    "distill": "edgekit.distillation",
    "DistillConfig": "edgekit.distillation",
    "DistillResult": "edgekit.distillation",
    "distill_loss": "edgekit.distillation",
    "Distiller": "edgekit.distillation",
    "lowrank": "edgekit.factorize",
    "LowRankConfig": "edgekit.factorize",
    "LowRankResult": "edgekit.factorize",
    "sparsify": "edgekit.sparsity",
    "SparsifyConfig": "edgekit.sparsity",
    "SparsifyResult": "edgekit.sparsity",
    "profile": "edgekit.runtime.profiling",
    "ProfileConfig": "edgekit.runtime.profiling",
    "Profile": "edgekit.runtime.profile",
    "SplitData": "edgekit.training",
    "run": "edgekit.recipes",
    "RunSummary": "edgekit.recipes",
    "Recipe": "edgekit.recipes",
    "search": "edgekit.autocompress",
    "SearchSpace": "edgekit.autocompress",
    "SearchConfig": "edgekit.autocompress",
    "SearchResult": "edgekit.autocompress",
}

__all__ = [
    "AutoKeep",
    "AutoKeepReport",
    "BoxFormat",
    "Calibrator",
    "CompareConfig",
    "ConfigError",
    "ConstraintError",
    "ConversionError",
    "ConvertConfig",
    "DelegateUnavailableError",
    "DeviceConnectionError",
    "DeviceError",
    "DistillConfig",
    "DistillResult",
    "DistillationError",
    "Distiller",
    "EdgekitError",
    "Equalization",
    "ExportConfig",
    "ExportError",
    "ExportResult",
    "FlatbufferError",
    "HostKeyError",
    "InputShapeError",
    "InputSpecError",
    "KeepAs",
    "LayerNormMode",
    "LowRankConfig",
    "LowRankError",
    "LowRankResult",
    "ModelFileError",
    "NMSConfig",
    "OutputMismatchError",
    "OutputPathError",
    "ParityError",
    "ParityReport",
    "PretrainedWeightsError",
    "Profile",
    "ProfileConfig",
    "PruneConfig",
    "PruneResult",
    "PruningError",
    "QuantConfig",
    "QuantScheme",
    "QuantizationError",
    "QuantizeResult",
    "Recipe",
    "RecipeError",
    "RemoteDependencyError",
    "RunSummary",
    "RuntimeSettingError",
    "RuntimeUnavailableError",
    "SearchConfig",
    "SearchError",
    "SearchResult",
    "SearchSpace",
    "SearchSpaceError",
    "SearchStorageError",
    "SparsifyConfig",
    "SparsifyResult",
    "SparsityError",
    "SplitData",
    "StepError",
    "UnsupportedOpError",
    "__version__",
    "compare",
    "convert",
    "detection_head",
    "distill",
    "distill_loss",
    "export",
    "finalize",
    "lowrank",
    "prepare_qat",
    "profile",
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
    from edgekit.converters.api import ConvertConfig, ExportConfig, ExportResult, NMSConfig, convert, export
    from edgekit.converters.parity import CompareConfig, ParityReport, compare
    from edgekit.converters.tflite.nms import BoxFormat
    from edgekit.detection import detection_head
    from edgekit.distillation import DistillConfig, Distiller, DistillResult, distill, distill_loss
    from edgekit.factorize import LowRankConfig, LowRankResult, lowrank
    from edgekit.pruning import PruneConfig, PruneResult, prune
    from edgekit.quantization import (
        AutoKeep,
        AutoKeepReport,
        Calibrator,
        Equalization,
        KeepAs,
        LayerNormMode,
        QuantConfig,
        QuantizeResult,
        QuantScheme,
        finalize,
        prepare_qat,
        quantize,
        sensitivity,
    )
    from edgekit.recipes import Recipe, RunSummary, run
    from edgekit.runtime.profile import Profile
    from edgekit.runtime.profiling import ProfileConfig, profile
    from edgekit.sparsity import SparsifyConfig, SparsifyResult, sparsify
    from edgekit.training import SplitData
