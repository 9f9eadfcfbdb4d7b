"""decode_detections: the real rows of an NMS file's padded outputs, as typed Detections."""

from __future__ import annotations

import numpy as np
import pytest

from edgekit.errors import InputSpecError
from edgekit.runtime import Detections, decode_detections


def outputs() -> dict[str, np.ndarray]:
    boxes = np.arange(12, dtype=np.float32).reshape(3, 4)
    return {
        "boxes": boxes,
        "scores": np.array([0.9, 0.5, 0.0], np.float32),
        "classes": np.array([3, 1, 0], np.int32),
        "count": np.array(2, np.int32),
    }


def test_keeps_count_rows_from_a_list_or_a_dict() -> None:
    by_name = decode_detections(outputs())
    in_order = decode_detections(list(outputs().values()))
    for d in (by_name, in_order):
        assert isinstance(d, Detections) and len(d) == 2
        np.testing.assert_array_equal(d.boxes, outputs()["boxes"][:2])
        assert d.classes.tolist() == [3, 1] and d.classes.dtype == np.int64
        assert d.scores.dtype == np.float32


def test_no_detections() -> None:
    empty = decode_detections({**outputs(), "count": np.array(0, np.int32)})
    assert len(empty) == 0 and empty.boxes.shape == (0, 4)


def test_wrong_outputs_name_the_fix() -> None:
    with pytest.raises(InputSpecError, match="NMSConfig"):
        decode_detections([np.zeros((1, 10))])
    with pytest.raises(InputSpecError, match="count"):
        decode_detections({k: v for k, v in outputs().items() if k != "count"})
