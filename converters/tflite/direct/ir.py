"""An in-memory TFLite model: tensors (shape, dtype, constant data, quantization), builtin operators with
their options, one subgraph.

Kept independent of the flatbuffer bindings so that passes can rewrite it freely; ``serialize`` turns it
into bytes at the end.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


class DType:
    """The little of ``tf.DType`` the handlers use (``as_numpy_dtype``, ``min``, ``max``)."""

    def __init__(self, dtype: Any) -> None:
        self.np = np.dtype(dtype)

    @property
    def as_numpy_dtype(self) -> type:
        return self.np.type

    @property
    def min(self) -> Any:
        return np.finfo(self.np).min if self.np.kind == "f" else np.iinfo(self.np).min

    @property
    def max(self) -> Any:
        return np.finfo(self.np).max if self.np.kind == "f" else np.iinfo(self.np).max

    def __eq__(self, other: object) -> bool:
        other_np = other.np if isinstance(other, DType) else other
        try:
            return self.np == np.dtype(other_np)  # type: ignore[arg-type]
        except TypeError:
            return False

    def __hash__(self) -> int:
        return hash(self.np)

    def __repr__(self) -> str:
        return f"DType({self.np})"


@dataclass
class Quant:
    """Affine quantization of a tensor: ``real = scale * (q - zero_point)``, per tensor or along ``axis``;
    ``dtype`` is the integer type an activation is stored in (int8, or int16 for 16x8 models)."""

    scale: np.ndarray
    zero_point: np.ndarray
    axis: int = 0
    dtype: np.dtype = field(default_factory=lambda: np.dtype(np.int8))


def same_quant(a: Quant | None, b: Quant | None) -> bool:
    """Equal quantization parameters (type, scales, zero points), or both absent."""
    if a is None or b is None:
        return a is b
    return (
        a.dtype == b.dtype and np.array_equal(a.scale, b.scale) and np.array_equal(a.zero_point, b.zero_point)
    )


@dataclass(eq=False)
class Tensor:
    """A tensor of the graph; ``data`` is set for constants (then ``op`` writes nothing to it)."""

    shape: tuple[int, ...]
    np_dtype: np.dtype
    name: str = ""
    data: np.ndarray | None = None
    quant: Quant | None = None
    graph: Graph | None = field(default=None, repr=False)

    @property
    def is_const(self) -> bool:
        return self.data is not None

    @property
    def dtype(self) -> DType:
        return DType(self.np_dtype)

    # The operators the handlers use on tensors (``x * keep + scattered``, ``t[:, 1:]``...).
    def __add__(self, other: Any) -> Tensor:
        return self._em().math.add(self, other)

    def __radd__(self, other: Any) -> Tensor:
        return self._em().math.add(other, self)

    def __sub__(self, other: Any) -> Tensor:
        return self._em().math.subtract(self, other)

    def __rsub__(self, other: Any) -> Tensor:
        return self._em().math.subtract(other, self)

    def __mul__(self, other: Any) -> Tensor:
        return self._em().math.multiply(self, other)

    def __rmul__(self, other: Any) -> Tensor:
        return self._em().math.multiply(other, self)

    def __truediv__(self, other: Any) -> Tensor:
        return self._em().math.divide(self, other)

    def __rtruediv__(self, other: Any) -> Tensor:
        return self._em().math.divide(other, self)

    def __neg__(self) -> Tensor:
        return self._em().math.negative(self)

    def __getitem__(self, index: Any) -> Tensor:
        return self._em().strided_slice(self, index)

    def _em(self) -> Any:
        assert self.graph is not None and self.graph.emitter is not None
        return self.graph.emitter


@dataclass(eq=False)
class Operator:
    """One builtin operator: ``code`` is the BuiltinOperator name (``"CONV_2D"``), ``options`` the name of
    its options table (``"Conv2DOptions"``) with the fields to set on it."""

    code: str
    inputs: list[Tensor | None]
    outputs: list[Tensor]
    options: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    version: int = 1
    origin: str = ""  # the ONNX node it was lowered from ("LayerNormalization node 'ln'"), for messages


@dataclass(eq=False)
class Graph:
    """One subgraph: operators in execution order, graph inputs and outputs."""

    operators: list[Operator] = field(default_factory=list)
    inputs: list[Tensor] = field(default_factory=list)
    outputs: list[Tensor] = field(default_factory=list)
    emitter: Any = field(default=None, repr=False)
    _count: int = 0

    def tensor(
        self,
        shape: tuple[int, ...],
        dtype: Any,
        *,
        name: str = "",
        data: np.ndarray | None = None,
        quant: Quant | None = None,
    ) -> Tensor:
        self._count += 1
        return Tensor(
            tuple(int(d) for d in shape), np.dtype(dtype), name or f"t{self._count}", data, quant, self
        )

    def const(self, array: Any, dtype: Any = None) -> Tensor:
        # No copy: a transposed weight stays a view until serialize writes it contiguous, so the handler's
        # layout change and the emitter's (OIHW -> HWIO -> OHWI) cost one copy; constants are never
        # modified in place (passes and quantization make new arrays).
        data = np.asarray(array, dtype=dtype)
        if data.dtype == np.float64:
            data = data.astype(np.float32)
        elif data.dtype == np.int64 and dtype is None:
            data = data.astype(np.int32) if _fits_int32(data) else data
        return self.tensor(data.shape, data.dtype, name=f"const{self._count + 1}", data=data)

    def add(self, op: Operator) -> Operator:
        self.operators.append(op)
        return op

    def consumers(self) -> dict[int, list[Operator]]:
        """Operators reading each tensor (by ``id``)."""
        out: dict[int, list[Operator]] = {}
        for op in self.operators:
            for t in op.inputs:
                if t is not None:
                    out.setdefault(id(t), []).append(op)
        return out

    def producers(self) -> dict[int, Operator]:
        return {id(t): op for op in self.operators for t in op.outputs}


def _fits_int32(data: np.ndarray) -> bool:
    return data.size == 0 or (int(data.min()) >= -(2**31) and int(data.max()) < 2**31)
