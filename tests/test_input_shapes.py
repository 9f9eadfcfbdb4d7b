"""The one input-shapes parser shared by the CLI flag and the Python API."""

from __future__ import annotations

import pytest

from edgekit.errors import InputShapeError, InputSpecError
from edgekit.input_shapes import parse_input_shapes


def test_flag_and_mapping_give_the_same_shapes() -> None:
    assert parse_input_shapes("x:1x3x224x224, mask:1X77") == {"x": (1, 3, 224, 224), "mask": (1, 77)}
    assert parse_input_shapes({"x": [1, 3, 224, 224]}) == {"x": (1, 3, 224, 224)}
    assert parse_input_shapes("ns::input:1x8") == {"ns::input": (1, 8)}
    assert parse_input_shapes(None) is None


@pytest.mark.parametrize("bad", ["1x3x224x224", "x:", ":1x3", "x:1x3,y", "x:1xax3", "x:0x3", "x:1x-3"])
def test_bad_syntax_is_an_input_shape_error_with_an_example(bad: str) -> None:
    with pytest.raises(InputShapeError, match=r"1x3x224x224") as err:
        parse_input_shapes(bad)
    assert isinstance(err.value, InputSpecError)
