"""ONNX op handlers, one module per op family. Importing this package registers them all."""

from edgekit.converters.tflite.ops import (  # noqa: F401
    activation,
    conv,
    einsum,
    elementwise,
    gather_nd,
    gemm,
    normalization,
    pool,
    qdq,
    reduce,
    resize,
    scatter,
    shape,
)
