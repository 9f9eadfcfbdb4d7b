"""Typed detections from a file exported with NMS in the graph (``ExportConfig(nms=NMSConfig())``).

Such a file returns ``boxes [K, 4]`` (x1, y1, x2, y2 in input pixels), ``scores [K]``, ``classes [K]``
and ``count`` (how many of the K padded rows are real); :func:`decode_detections` keeps the real rows.
Pure numpy: runs on devices without torch.

>>> import numpy as np
>>> d = decode_detections([np.ones((3, 4)), np.array([0.9, 0.8, 0.0]), np.array([2, 5, 0]), np.array(2)])
>>> len(d), d.classes.tolist()
(2, [2, 5])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from edgekit.errors import InputSpecError

__all__ = ["Detections", "decode_detections"]

_NAMES = ("boxes", "scores", "classes", "count")


@dataclass(frozen=True)
class Detections:
    """Detections of one image: ``boxes`` ``[n, 4]`` float32 x1, y1, x2, y2; ``scores`` ``[n]`` float32;
    ``classes`` ``[n]`` int64 class indices; best score first."""

    boxes: np.ndarray
    scores: np.ndarray
    classes: np.ndarray

    def __len__(self) -> int:
        return int(self.scores.shape[0])


def decode_detections(outputs: Sequence[np.ndarray] | Mapping[str, np.ndarray]) -> Detections:
    """The real rows of an NMS file's ``boxes, scores, classes, count`` outputs (a list in that order or a
    dict by name, as ``Model.run(..., as_dict=True)`` gives)."""
    if isinstance(outputs, Mapping):
        missing = [n for n in _NAMES if n not in outputs]
        if missing:
            raise InputSpecError(
                f"detection outputs must be named {', '.join(_NAMES)}; missing {', '.join(missing)}: was the "
                "file exported with ExportConfig(nms=NMSConfig())?"
            )
        arrays = [outputs[n] for n in _NAMES]
    else:
        arrays = list(outputs)
        if len(arrays) != len(_NAMES):
            raise InputSpecError(
                f"a file with NMS in the graph has 4 outputs ({', '.join(_NAMES)}), got {len(arrays)}: export "
                "with ExportConfig(nms=NMSConfig())"
            )
    boxes, scores, classes, count = (np.asarray(a) for a in arrays)
    n = int(np.asarray(count).reshape(-1)[0])
    return Detections(
        boxes=boxes.reshape(-1, 4)[:n].astype(np.float32),
        scores=scores.reshape(-1)[:n].astype(np.float32),
        classes=classes.reshape(-1)[:n].astype(np.int64),
    )
