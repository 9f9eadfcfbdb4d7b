"""ONNX messages read without the onnx package agree with onnx's own helpers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgekit.converters import onnx_proto


def test_parsed_model_is_onnx_own_type_with_the_same_arrays_and_attributes(onnx_file: Path) -> None:
    model = onnx_proto.parse_model(onnx_file.read_bytes())
    assert type(model) is onnx.ModelProto
    for tensor in model.graph.initializer:
        ours, theirs = onnx_proto.to_array(tensor), numpy_helper.to_array(tensor)
        assert ours.dtype == theirs.dtype and np.array_equal(ours, theirs)
    for node in model.graph.node:
        for attribute in node.attribute:
            assert onnx_proto.attribute_value(attribute) == helper.get_attribute_value(attribute)


@pytest.mark.parametrize(
    ("dtype", "values"),
    [
        (TensorProto.FLOAT, [1.5, -2.0]),
        (TensorProto.INT64, [3, -4]),
        (TensorProto.INT32, [5, 6]),
        (TensorProto.INT8, [-7, 8]),
        (TensorProto.UINT8, [9, 250]),
        (TensorProto.BOOL, [True, False]),
        (TensorProto.FLOAT16, [0.5, 2.0]),
        (TensorProto.DOUBLE, [0.25, 1e300]),
        (TensorProto.BFLOAT16, [1.0, -3.0]),
    ],
)
@pytest.mark.parametrize("raw", [False, True])
def test_tensor_values_match_numpy_helper(dtype: int, values: list, raw: bool) -> None:
    if raw:
        array = numpy_helper.to_array(helper.make_tensor("t", dtype, [2], values))
        tensor = numpy_helper.from_array(array, "t")
    else:
        tensor = helper.make_tensor("t", dtype, [2], values)
    ours, theirs = onnx_proto.to_array(tensor), numpy_helper.to_array(tensor)
    assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
    np.testing.assert_array_equal(ours.astype(np.float64), theirs.astype(np.float64))
    assert onnx_proto.np_dtype(dtype) == theirs.dtype


def test_attribute_kinds_match_onnx_helper() -> None:
    node = helper.make_node(
        "X",
        [],
        [],
        f=1.5,
        i=2,
        s="text",
        floats=[1.0, 2.0],
        ints=[3, 4],
        strings=["a", "b"],
        t=numpy_helper.from_array(np.ones(2, np.float32)),
    )
    for attribute in node.attribute:
        ours, theirs = onnx_proto.attribute_value(attribute), helper.get_attribute_value(attribute)
        assert type(ours) is type(theirs) and ours == theirs
