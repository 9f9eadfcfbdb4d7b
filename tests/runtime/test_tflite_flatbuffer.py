"""The pure-Python flatbuffer reader: op histogram read from the file agrees with the interpreter's."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgekit.errors import FlatbufferError
from edgekit.runtime import Model
from edgekit.runtime.tflite_flatbuffer import op_histogram


@pytest.mark.parametrize("fixture", ["tflite_fp32_path", "tflite_int8_path"])
def test_op_histogram_matches_the_interpreter(fixture: str, request: pytest.FixtureRequest) -> None:
    path: Path = request.getfixturevalue(fixture)
    counts = op_histogram(path.read_bytes())
    assert counts and counts == Model.load(path, delegate="none").op_histogram()


def test_op_histogram_of_a_truncated_file_is_a_flatbuffer_error(tflite_fp32_path: Path) -> None:
    with pytest.raises(FlatbufferError):
        op_histogram(tflite_fp32_path.read_bytes()[:64])
