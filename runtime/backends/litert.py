"""LiteRT (TFLite) backend: ai-edge-litert first, then tflite-runtime, then tensorflow.lite.

XNNPACK is applied by default on CPU. "gpu" loads a GPU delegate library present on the system
(``EDGEKIT_TFLITE_GPU_DELEGATE`` or the standard library names); ai-edge-litert's wheel ships none.
"""

from __future__ import annotations

import ctypes
import logging
import os
from collections import Counter
from importlib import metadata
from typing import Any

import numpy as np

from edgekit.errors import DelegateUnavailableError, ModelFileError, RuntimeUnavailableError
from edgekit.runtime.backends.base import FileTensor

log = logging.getLogger(__name__)

CPU_DELEGATES = ("xnnpack", "cpu", "none")
GPU_LIBRARIES = (
    "libtensorflowlite_gpu_delegate.so",
    "libLiteRtGpuAccelerator.so",
    "libtensorflowlite_gpu_gl.so",
)
_PROVIDERS = (
    ("ai_edge_litert.interpreter", "ai-edge-litert"),
    ("tflite_runtime.interpreter", "tflite-runtime"),
    ("tensorflow.lite", "tensorflow"),
)


def _interpreter_module() -> tuple[Any, str]:
    """The first importable TFLite interpreter module and its "name version" label."""
    errors = []
    for module_name, dist in _PROVIDERS:
        try:
            module = __import__(module_name, fromlist=["Interpreter"])
        except Exception as exc:  # ImportError, or numpy ABI errors from old wheels
            errors.append(f"{dist}: {exc}")
            continue
        try:
            version = metadata.version(dist)
        except metadata.PackageNotFoundError:
            version = "?"
        return module, f"{dist} {version}"
    raise RuntimeUnavailableError(
        "no TFLite interpreter is installed; `pip install ai-edge-litert` (" + "; ".join(errors) + ")"
    )


def is_available() -> bool:
    try:
        _interpreter_module()
    except RuntimeUnavailableError:
        return False
    return True


def _gpu_delegate(module: Any) -> Any | None:
    candidates = (
        [os.environ["EDGEKIT_TFLITE_GPU_DELEGATE"]] if os.environ.get("EDGEKIT_TFLITE_GPU_DELEGATE") else []
    )
    candidates += list(GPU_LIBRARIES)
    for lib in candidates:
        try:
            ctypes.CDLL(lib)  # probe first: a failed load_delegate leaves a half-built object behind
        except OSError:
            continue
        try:
            return module.load_delegate(lib)
        except (ValueError, OSError, RuntimeError):
            continue
    return None


def available_delegates() -> list[str]:
    """Delegate names that can be used here (GPU only when a delegate library loads)."""
    module, _ = _interpreter_module()
    names = list(CPU_DELEGATES)
    if _gpu_delegate(module) is not None:
        names.append("gpu")
    return names


def _dtype(d: Any) -> np.dtype:
    return np.dtype(d)


class LiteRTBackend:
    """A .tflite model in a LiteRT interpreter."""

    name = "litert"

    def __init__(self, path: str, *, delegate: str = "auto", threads: int | None = None) -> None:
        self._module, self.runtime = _interpreter_module()
        self._path = path
        self.threads = threads
        self.delegate, kwargs = self._delegate_kwargs(delegate)
        try:
            self._interp = self._module.Interpreter(model_path=path, num_threads=threads, **kwargs)
            self._interp.allocate_tensors()
        except ValueError as exc:
            raise ModelFileError(f"LiteRT could not load {path}: {exc}") from exc
        if delegate in {"xnnpack", "gpu"}:
            self._check_int16(delegate)
        self._in_details = self._interp.get_input_details()
        self._out_details = self._interp.get_output_details()
        self._in_idx = [d["index"] for d in self._in_details]
        self._out_idx = [d["index"] for d in self._out_details]
        self.inputs = [self._tensor(d) for d in self._in_details]
        self.outputs = [self._tensor(d) for d in self._out_details]

    def _check_int16(self, delegate: str) -> None:
        """A delegate asked for by name must be able to run the file: neither XNNPACK nor the GPU
        delegate has int16-activation (16x8) kernels, so LiteRT would silently run every op without it."""
        if any(np.dtype(t["dtype"]) == np.int16 for t in self._interp.get_tensor_details()):
            raise DelegateUnavailableError(
                f"{self._path} has int16 activations (16x8 quantization) and the {delegate} delegate has no "
                "16x8 kernels: load it with delegate='cpu' (LiteRT's builtin 16x8 kernels), or quantize with "
                "QuantConfig(scheme='int8') to run on that delegate",
                available=("cpu", "none"),
            )

    def _delegate_kwargs(self, delegate: str) -> tuple[str, dict[str, Any]]:
        resolver = getattr(self._module, "OpResolverType", None)
        if delegate in {"auto", "cpu", "xnnpack"}:
            return "xnnpack", {}
        if delegate == "none":
            if resolver is None:
                return "xnnpack", {}
            return "none", {"experimental_op_resolver_type": resolver.BUILTIN_WITHOUT_DEFAULT_DELEGATES}
        if delegate == "gpu":
            gpu = _gpu_delegate(self._module)
            if gpu is None:
                raise DelegateUnavailableError(
                    "no TFLite GPU delegate library was found (set EDGEKIT_TFLITE_GPU_DELEGATE to its path; "
                    f"ai-edge-litert ships none); available delegates: {', '.join(CPU_DELEGATES)}",
                    available=CPU_DELEGATES,
                )
            return "gpu", {"experimental_delegates": [gpu]}
        raise DelegateUnavailableError(
            f"delegate {delegate!r} is not available for LiteRT here; available: {', '.join(available_delegates())}",
            available=tuple(available_delegates()),
        )

    @staticmethod
    def _tensor(d: dict[str, Any]) -> FileTensor:
        scale, zero_point = d.get("quantization", (0.0, 0))
        shape = tuple(int(s) if s >= 0 else None for s in d.get("shape_signature", d["shape"]))
        quantized = bool(scale) and np.issubdtype(_dtype(d["dtype"]), np.integer)
        return FileTensor(
            name=d["name"],
            shape=shape,
            dtype=_dtype(d["dtype"]),
            scale=float(scale) if quantized else None,
            zero_point=int(zero_point) if quantized else None,
        )

    def run(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        interp = self._interp
        for index, array in zip(self._in_idx, arrays, strict=True):
            interp.set_tensor(index, array)
        interp.invoke()
        return [interp.get_tensor(index) for index in self._out_idx]

    def op_histogram(self) -> dict[str, int]:
        return dict(
            Counter(n["op_name"] for n in self._interp._get_ops_details() if n["op_name"] != "DELEGATE")
        )

    def delegate_coverage(self) -> dict[str, Any]:
        """Which of the model's nodes a delegate took, by walking each DELEGATE node's partition.

        After delegation the node list still holds the original nodes plus one DELEGATE node per
        partition; a node belongs to a partition when it lies between that DELEGATE node's inputs and
        outputs.
        """
        nodes = self._interp._get_ops_details()
        original = [n for n in nodes if n["op_name"] != "DELEGATE"]
        producer = {int(t): i for i, n in enumerate(original) for t in n["outputs"]}
        delegated: set[int] = set()
        for node in nodes:
            if node["op_name"] != "DELEGATE":
                continue
            boundary = {int(t) for t in node["inputs"]}
            stack, seen = [int(t) for t in node["outputs"]], set()
            while stack:
                tensor = stack.pop()
                if tensor in boundary or tensor in seen:
                    continue
                seen.add(tensor)
                index = producer.get(tensor)
                if index is not None and index not in delegated:
                    delegated.add(index)
                    stack.extend(int(t) for t in original[index]["inputs"])
        fallback = Counter(n["op_name"] for i, n in enumerate(original) if i not in delegated)
        return {
            "delegate": self.delegate,
            "total_nodes": len(original),
            "delegated_nodes": len(delegated),
            "fallback_op_types": dict(fallback),
        }

    def op_times(self, arrays: list[np.ndarray], runs: int) -> dict[str, dict[str, float]] | None:
        return None
