"""Exception hierarchy shared by every part of edgekit.

Every error edgekit raises on purpose is an :class:`EdgekitError`, so an app can catch one type.
Messages name the problem *and* the fix. This module imports nothing heavy: the runtime uses it on
devices that have only numpy and one interpreter installed.
"""

from __future__ import annotations


class EdgekitError(Exception):
    """Base class of every error raised by edgekit on purpose."""


# --- files -------------------------------------------------------------------------------------------
class ModelFileError(EdgekitError):
    """A model file is missing, unreadable, truncated, or not the format its suffix claims."""


class OutputPathError(EdgekitError):
    """An output path cannot be written (missing permission, a folder in the way, ...)."""


class FlatbufferError(ModelFileError, ValueError):
    """The bytes are not a well-formed TFLite flatbuffer (truncated, wrong identifier, bad offsets).

    Also importable as ``edgekit.runtime.tflite_flatbuffer.FlatbufferError``; it stays a ``ValueError``
    for code written before it became a :class:`ModelFileError`.
    """


# --- settings ----------------------------------------------------------------------------------------
class ConfigError(EdgekitError, ValueError):
    """A config dictionary cannot be read: unknown key, wrong version, or a value of the wrong kind."""


# --- runtime -----------------------------------------------------------------------------------------
class RuntimeUnavailableError(EdgekitError):
    """No interpreter / runtime that can run this model is installed."""


class DelegateUnavailableError(EdgekitError):
    """The requested delegate / execution provider is not available here.

    ``available`` lists the ones that are.
    """

    def __init__(self, message: str, available: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.available = tuple(available)


class InputSpecError(EdgekitError, ValueError):
    """Inputs do not match the model (count, shape, dtype, or non-finite values for an int8 model)."""


class RuntimeSettingError(EdgekitError, ValueError):
    """A runtime setting is out of range: thread count, delegate name, number of runs / warm-up runs."""


class InputShapeError(InputSpecError):
    """Input shapes are missing (symbolic dims), malformed, or name/rank do not match the model's inputs."""


# --- export / convert --------------------------------------------------------------------------------
class ExportError(EdgekitError):
    """PyTorch -> ONNX export failed (tracing, checking, or parity against PyTorch)."""


class ConversionError(EdgekitError):
    """ONNX -> TFLite conversion failed."""


class UnsupportedOpError(ConversionError):
    """The ONNX graph has an op (or an op attribute) the translator does not support."""


class ParityError(EdgekitError):
    """A converted model's outputs differ from the reference beyond tolerance."""


class OutputMismatchError(ParityError, ValueError):
    """Two models cannot be compared: different numbers of outputs or different output shapes."""


# --- compression -------------------------------------------------------------------------------------
class QuantizationError(EdgekitError):
    """Quantization was configured or used incorrectly (bad calibration data, wrong state, ...)."""


class PretrainedWeightsError(EdgekitError):
    """A pretrained model could not be built: its weights package is not installed, or the weights do not
    fit the architecture (the message lists the missing and unexpected keys)."""


class PruningError(EdgekitError):
    """Pruning was configured incorrectly or the model's graph cannot be pruned consistently."""


class LowRankError(EdgekitError, ValueError):
    """``lowrank`` was given a bad setting (``energy`` outside (0, 1], negative ``min_params``)."""


class SparsityError(EdgekitError, ValueError):
    """``sparsify`` was given a bad setting or a model without Conv / Linear weights."""


class DistillationError(EdgekitError, ValueError):
    """A distillation setting is out of range (``alpha`` outside [0, 1], ``temperature`` <= 0, no data)."""


# --- devices -----------------------------------------------------------------------------------------
class DeviceError(EdgekitError):
    """A device could not be reached, or a command on it failed."""


class DeviceConnectionError(DeviceError):
    """Connecting to a device failed or timed out."""


class HostKeyError(DeviceConnectionError):
    """The SSH host key is unknown or does not match known_hosts."""


class RemoteDependencyError(DeviceError):
    """The device lacks something the agent needs (python3, numpy, a runtime)."""


# --- pipeline ----------------------------------------------------------------------------------------
class RecipeError(EdgekitError):
    """A recipe file is invalid; the message names the file, line and key."""


class StepError(EdgekitError):
    """A pipeline step failed; the message names the step."""


# --- compression search ------------------------------------------------------------------------------
class SearchError(EdgekitError):
    """A compression search (``ek.search``) cannot start or continue; the message says why and the fix."""


class SearchSpaceError(SearchError, RecipeError):
    """A search space or search configuration is invalid; the message names the file, line and key."""


class SearchStorageError(SearchError):
    """The study storage (SQLite file or PostgreSQL URL) cannot be opened or reached."""


class ConstraintError(SearchError):
    """No trial met the search constraint; the message names the best trial found. ``result`` holds it."""

    def __init__(self, message: str, result: object = None) -> None:
        super().__init__(message)
        self.result = result
