"""Large float constants held as TF variables while the ONNX graph is traced.

The TFLite converter lowers a concrete function to a SavedModel before converting it. A weight embedded
in the traced graph as a constant is copied several times on that way (the GraphDef, its debug info, the
reloaded function); a variable is written once and frozen inside the converter. Measured on VGG-11
(0.49 GiB of weights, 2 cores): the conversion's peak memory fell from 14.5 to 5.5 GiB and its time from
107 to 21 s, with a bit-identical .tflite output.

Handlers call :func:`constant` instead of ``tf.constant``; :meth:`WeightStore.active` makes a store the
target of those calls for the duration of one trace.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import numpy as np

from edgekit.errors import ConversionError

MIN_ELEMENTS = 1024  # smaller constants (shapes, axes, scalars, small biases) stay graph constants

_ACTIVE: ContextVar[WeightStore | None] = ContextVar("edgekit_weight_store", default=None)


class WeightStore:
    """The variables created for one translated graph, in creation order.

    ``tf.function`` traces a function that creates variables twice (the second time to check that it
    creates none), so a trace that comes back asks for the same arrays in the same order and gets the
    variables made the first time.
    """

    def __init__(self) -> None:
        self.variables: list[Any] = []
        self._next = 0

    @contextmanager
    def active(self) -> Iterator[WeightStore]:
        """Route :func:`constant` calls to this store during one trace."""
        self._next = 0
        token = _ACTIVE.set(self)
        try:
            yield self
        finally:
            _ACTIVE.reset(token)

    def variable(self, tf: Any, array: np.ndarray) -> Any:
        if self._next < len(self.variables):
            variable = self.variables[self._next]
            if tuple(variable.shape) != array.shape or variable.dtype.as_numpy_dtype != array.dtype:
                raise ConversionError(
                    f"weight {self._next} changed between traces ({tuple(variable.shape)} vs {array.shape}); "
                    "the translation is not deterministic"
                )
        else:
            with tf.init_scope():
                variable = tf.Variable(array, trainable=False, name=f"weight_{self._next}")
            self.variables.append(variable)
        self._next += 1
        return tf.identity(variable)


def constant(tf: Any, value: Any) -> Any:
    """``tf.constant(value)``, or a variable of the active store for a large floating-point array."""
    array = np.asarray(value)
    store = _ACTIVE.get()
    if store is None or array.dtype.kind != "f" or array.size < MIN_ELEMENTS:
        return tf.constant(array)
    return store.variable(tf, array)
