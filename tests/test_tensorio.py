"""One normalisation of example inputs and one of outputs, used by every verb."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import edgekit as ek
from edgekit.tensorio import as_example_tuple, to_numpy_list


@pytest.mark.parametrize(
    "given",
    [torch.ones(1, 3), np.ones((1, 3), np.float32), [torch.ones(1, 3)], (np.ones((1, 3), np.float32),)],
    ids=["tensor", "array", "list", "tuple-of-array"],
)
def test_one_input_in_any_form(given: object) -> None:
    (t,) = as_example_tuple(given)
    assert isinstance(t, torch.Tensor) and tuple(t.shape) == (1, 3) and float(t.sum()) == 3.0


def test_several_inputs_keep_their_order_and_move_to_the_device() -> None:
    a, b = as_example_tuple([np.zeros((1, 2), np.float32), torch.ones(1, 4)], device="cpu")
    assert a.shape == (1, 2) and b.shape == (1, 4) and a.device.type == "cpu"


def test_bad_inputs_raise_the_callers_error_naming_the_problem() -> None:
    with pytest.raises(ek.InputSpecError, match="example input 1 is a str"):
        as_example_tuple([torch.ones(1), "x"])
    with pytest.raises(ek.ExportError, match="is empty"):
        as_example_tuple([], error=ek.ExportError)


def test_outputs_to_numpy() -> None:
    out = to_numpy_list({"logits": torch.ones(2, 3, requires_grad=True) * 2, "aux": np.zeros(1)})
    assert [o.shape for o in out] == [(2, 3), (1,)] and out[0].dtype == np.float32
    assert len(to_numpy_list(torch.zeros(1))) == 1 and len(to_numpy_list([1.0, 2.0])) == 2
