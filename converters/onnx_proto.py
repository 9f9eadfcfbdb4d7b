"""ONNX protobufs read without importing the ``onnx`` package.

``import onnx`` costs about a second in a fresh process (most of it ``ml_dtypes``, which its dtype
tables import), longer than the whole direct conversion of a mobilenet. The messages themselves only
need the protobuf classes, which the ``onnx`` wheel generates from its schema as ``onnx/onnx_ml_pb2.py``
(protobuf runtime only). That file is loaded here by path under its own module name, so the classes are
the installed ``onnx``'s own (same descriptors, same types: ``onnx.ModelProto`` is :data:`ModelProto`
when ``onnx`` is imported later) and no generated code is copied into edgekit or generated at build
time. The few helpers the translator needs (tensor -> array, attribute values, element types) cover the
ordinary element types here and defer to ``onnx`` itself for the rest (bfloat16, float8, 4-bit...).

>>> from edgekit.converters.onnx_proto import ModelProto
>>> ModelProto().ir_version
0
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

_PB2 = "onnx.onnx_ml_pb2"


def _pb2() -> ModuleType:
    if _PB2 in sys.modules:
        return sys.modules[_PB2]
    package = importlib.util.find_spec("onnx")  # locates the package without running its __init__
    if package is None or not package.submodule_search_locations:
        raise ImportError("the onnx package is not installed: pip install onnx")
    path = Path(next(iter(package.submodule_search_locations))) / "onnx_ml_pb2.py"
    spec = importlib.util.spec_from_file_location(_PB2, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}: reinstall onnx")
    module = importlib.util.module_from_spec(spec)
    sys.modules[_PB2] = module  # `import onnx` later reuses it instead of registering the schema twice
    spec.loader.exec_module(module)
    return module


_pb = _pb2()
ModelProto: Any = _pb.ModelProto
TensorProto: Any = _pb.TensorProto
NodeProto: Any = _pb.NodeProto
AttributeProto: Any = _pb.AttributeProto

_NUMPY: dict[int, np.dtype[Any]] = {
    TensorProto.FLOAT: np.dtype(np.float32),
    TensorProto.UINT8: np.dtype(np.uint8),
    TensorProto.INT8: np.dtype(np.int8),
    TensorProto.UINT16: np.dtype(np.uint16),
    TensorProto.INT16: np.dtype(np.int16),
    TensorProto.INT32: np.dtype(np.int32),
    TensorProto.INT64: np.dtype(np.int64),
    TensorProto.BOOL: np.dtype(np.bool_),
    TensorProto.FLOAT16: np.dtype(np.float16),
    TensorProto.DOUBLE: np.dtype(np.float64),
    TensorProto.UINT32: np.dtype(np.uint32),
    TensorProto.UINT64: np.dtype(np.uint64),
}
# Where a tensor without raw_data keeps its values (types whose storage needs no conversion).
_FIELD: dict[int, str] = {
    TensorProto.FLOAT: "float_data",
    TensorProto.UINT8: "int32_data",
    TensorProto.INT8: "int32_data",
    TensorProto.INT32: "int32_data",
    TensorProto.INT64: "int64_data",
    TensorProto.BOOL: "int32_data",
    TensorProto.DOUBLE: "double_data",
    TensorProto.UINT32: "uint64_data",
    TensorProto.UINT64: "uint64_data",
}
_ATTRIBUTE: dict[int, str] = {
    AttributeProto.FLOAT: "f",
    AttributeProto.INT: "i",
    AttributeProto.STRING: "s",
    AttributeProto.TENSOR: "t",
    AttributeProto.GRAPH: "g",
    AttributeProto.SPARSE_TENSOR: "sparse_tensor",
    AttributeProto.TYPE_PROTO: "tp",
}
_ATTRIBUTES: dict[int, str] = {
    AttributeProto.FLOATS: "floats",
    AttributeProto.INTS: "ints",
    AttributeProto.STRINGS: "strings",
    AttributeProto.TENSORS: "tensors",
    AttributeProto.GRAPHS: "graphs",
    AttributeProto.SPARSE_TENSORS: "sparse_tensors",
    AttributeProto.TYPE_PROTOS: "type_protos",
}


def parse_model(data: bytes) -> Any:
    """An ``onnx.ModelProto`` parsed from serialized bytes (raises protobuf's DecodeError when corrupt)."""
    return ModelProto.FromString(data)


def np_dtype(elem_type: int) -> np.dtype:
    """The numpy dtype of an ONNX element type (``TensorProto.FLOAT`` -> float32)."""
    found = _NUMPY.get(elem_type)
    if found is not None:
        return found
    from onnx import helper

    return np.dtype(helper.tensor_dtype_to_np_dtype(elem_type))


def to_array(tensor: Any) -> np.ndarray:
    """The values of a ``TensorProto`` (read-only when they come from ``raw_data``, as ``onnx``'s)."""
    dims = tuple(tensor.dims)
    dtype = _NUMPY.get(tensor.data_type)
    mapped = _mapped(tensor, dtype)
    if mapped is not None:
        return mapped
    if dtype is None or tensor.HasField("segment") or tensor.data_location == TensorProto.EXTERNAL:
        from onnx import numpy_helper

        return numpy_helper.to_array(tensor)
    if tensor.HasField("raw_data"):
        return (
            np.frombuffer(tensor.raw_data, dtype=dtype.newbyteorder("<"))
            .astype(dtype, copy=False)
            .reshape(dims)
        )
    field = _FIELD.get(tensor.data_type)
    if field is None:  # 16-bit types kept as int32 bit patterns
        from onnx import numpy_helper

        return numpy_helper.to_array(tensor)
    return np.asarray(getattr(tensor, field), dtype=dtype).reshape(dims)


def _mapped(tensor: Any, dtype: np.dtype[Any] | None) -> np.ndarray | None:
    """A read-only view of an external tensor's bytes mapped from its side file, when its ``location`` is
    absolute (as :func:`map_external_data` leaves it): the weights stay in the page cache, not copied."""
    if dtype is None or tensor.data_location != TensorProto.EXTERNAL:
        return None
    entries = {entry.key: entry.value for entry in tensor.external_data}
    location = Path(entries.get("location", ""))
    if not location.is_absolute():
        return None
    count = int(np.prod(tensor.dims, dtype=np.int64))
    if count == 0:
        return np.zeros(tuple(tensor.dims), dtype)
    mapped = np.memmap(
        location,
        dtype=dtype.newbyteorder("<"),
        mode="r",
        offset=int(entries.get("offset", 0)),
        shape=(count,),
    )
    return mapped.view(np.ndarray).astype(dtype, copy=False).reshape(tuple(tensor.dims))


def map_external_data(model: Any, folder: Path) -> int:
    """Point each external tensor of ``model`` at its side file by absolute path (under ``folder``) instead
    of reading it into the protobuf; :func:`to_array` then maps it. Returns the number of tensors."""
    external = [t for t in all_tensors(model.graph) if uses_external_data(t)]
    for tensor in external:
        entries = {entry.key: entry for entry in tensor.external_data}
        location = (folder / entries["location"].value).resolve()
        if "length" in entries:
            end = int(entries["offset"].value if "offset" in entries else 0) + int(entries["length"].value)
            if end > location.stat().st_size:
                raise ValueError(
                    f"tensor {tensor.name!r} needs bytes up to {end} of {location.name}, which holds "
                    f"{location.stat().st_size}"
                )
        entries["location"].value = str(location)
    return len(external)


def attribute_value(attribute: Any) -> Any:
    """The Python value of an ``AttributeProto`` (lists for repeated kinds), as ``onnx.helper``'s."""
    single = _ATTRIBUTE.get(attribute.type)
    if single is not None:
        return getattr(attribute, single)
    repeated = _ATTRIBUTES.get(attribute.type)
    if repeated is not None:
        return list(getattr(attribute, repeated))
    from onnx import helper

    return helper.get_attribute_value(attribute)


def all_tensors(graph: Any) -> list[Any]:
    """Every ``TensorProto`` of a graph: initializers and attribute tensors, subgraphs included."""
    found = list(graph.initializer)
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.HasField("t"):
                found.append(attribute.t)
            found.extend(attribute.tensors)
            if attribute.HasField("g"):
                found.extend(all_tensors(attribute.g))
            for sub in attribute.graphs:
                found.extend(all_tensors(sub))
    return found


def uses_external_data(tensor: Any) -> bool:
    """Whether a tensor's values live in a side file."""
    return tensor.HasField("data_location") and tensor.data_location == TensorProto.EXTERNAL
