"""Every error edgekit raises on purpose is in edgekit.errors, exported from edgekit, an EdgekitError."""

from __future__ import annotations

import inspect

import pytest

import edgekit as ek
from edgekit import errors


def test_every_error_class_is_exported_and_an_edgekit_error() -> None:
    classes = [c for _, c in inspect.getmembers(errors, inspect.isclass) if issubclass(c, Exception)]
    assert len(classes) >= 25
    for cls in classes:
        assert issubclass(cls, ek.EdgekitError), cls
        assert getattr(ek, cls.__name__) is cls and cls.__name__ in ek.__all__


def test_moved_errors_stay_importable_from_their_old_modules() -> None:
    from edgekit.distill import DistillationError
    from edgekit.factorize import LowRankError
    from edgekit.runtime.tflite_flatbuffer import FlatbufferError
    from edgekit.sparsity import SparsityError

    assert DistillationError is ek.DistillationError and LowRankError is ek.LowRankError
    assert SparsityError is ek.SparsityError
    assert FlatbufferError is ek.FlatbufferError and issubclass(FlatbufferError, ek.ModelFileError)


def test_compatibility_bases_for_code_that_caught_value_error() -> None:
    for cls in (ek.FlatbufferError, ek.RuntimeSettingError, ek.OutputMismatchError, ek.InputSpecError):
        assert issubclass(cls, ValueError)
    assert issubclass(ek.OutputMismatchError, ek.ParityError)


def test_a_truncated_tflite_is_a_model_file_error() -> None:
    from edgekit.runtime.tflite_flatbuffer import read_metadata

    with pytest.raises(ek.ModelFileError, match="not a TFLite model"):
        read_metadata(b"1234")
