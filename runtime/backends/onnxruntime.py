"""ONNX Runtime backend. Execution providers are chosen from what the installed wheel offers."""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections import Counter, defaultdict
from importlib import metadata
from typing import Any

import numpy as np

from edgekit.errors import (
    DelegateUnavailableError,
    ModelFileError,
    RuntimeSettingError,
    RuntimeUnavailableError,
)
from edgekit.runtime.backends.base import FileTensor

log = logging.getLogger(__name__)

# edgekit delegate name -> ONNX Runtime execution provider, in "auto" preference order.
PROVIDERS: dict[str, str] = {
    "tensorrt": "TensorrtExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "coreml": "CoreMLExecutionProvider",
    "dml": "DmlExecutionProvider",
    "openvino": "OpenVINOExecutionProvider",
    "qnn": "QNNExecutionProvider",
    "nnapi": "NnapiExecutionProvider",
    "xnnpack": "XnnpackExecutionProvider",
    "cpu": "CPUExecutionProvider",
}
GPU_PREFERENCE = ("tensorrt", "cuda", "dml", "coreml")
#: edgekit name -> ONNX Runtime GraphOptimizationLevel member. "basic" keeps ONNX semantics for QDQ
#: files (no fused int8 kernels); "all" is ONNX Runtime's default.
OPTIMIZATION_LEVELS: dict[str, str] = {
    "disabled": "ORT_DISABLE_ALL",
    "basic": "ORT_ENABLE_BASIC",
    "extended": "ORT_ENABLE_EXTENDED",
    "all": "ORT_ENABLE_ALL",
}
_ONNX_TYPES = {
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
    "tensor(double)": np.float64,
    "tensor(int8)": np.int8,
    "tensor(uint8)": np.uint8,
    "tensor(int32)": np.int32,
    "tensor(int64)": np.int64,
    "tensor(bool)": np.bool_,
}


def _ort() -> Any:
    try:
        import onnxruntime
    except ImportError as exc:
        raise RuntimeUnavailableError("ONNX Runtime is not installed; `pip install onnxruntime`") from exc
    return onnxruntime


def is_available() -> bool:
    try:
        _ort()
    except RuntimeUnavailableError:
        return False
    return True


def available_delegates() -> list[str]:
    """edgekit names of the execution providers this onnxruntime build offers (plus "gpu" if any GPU EP)."""
    present = set(_ort().get_available_providers())
    names = [name for name, ep in PROVIDERS.items() if ep in present]
    if any(n in names for n in GPU_PREFERENCE):
        names.append("gpu")
    return names


def resolve_delegate(delegate: str) -> str:
    """Map a requested delegate ("auto", "gpu", "cuda", ...) to an available edgekit provider name."""
    available = available_delegates()
    if delegate == "auto":
        return next(name for name in PROVIDERS if name in available)
    if delegate == "gpu":
        for name in GPU_PREFERENCE:
            if name in available:
                return name
    elif delegate in available:
        return delegate
    raise DelegateUnavailableError(
        f"delegate {delegate!r} is not available in this ONNX Runtime build; available: {', '.join(available)}"
        + (" (install onnxruntime-gpu for CUDA/TensorRT)" if delegate in {"gpu", "cuda", "tensorrt"} else ""),
        available=tuple(available),
    )


class OnnxRuntimeBackend:
    """An .onnx model in an ONNX Runtime InferenceSession."""

    name = "onnxruntime"

    def __init__(
        self,
        path: str,
        *,
        delegate: str = "auto",
        threads: int | None = None,
        optimization: str | None = None,
    ) -> None:
        if optimization is not None and optimization not in OPTIMIZATION_LEVELS:
            raise RuntimeSettingError(
                f"ort_optimization must be one of {', '.join(OPTIMIZATION_LEVELS)} (or None for ONNX Runtime's "
                f"default), got {optimization!r}"
            )
        self.optimization = optimization
        ort = _ort()
        self.runtime = (
            f"onnxruntime {metadata.version('onnxruntime') if _has_dist('onnxruntime') else ort.__version__}"
        )
        self._path = path
        self.threads = threads
        self.delegate = resolve_delegate(delegate)
        providers = [PROVIDERS[self.delegate]]
        if self.delegate != "cpu":
            providers.append(PROVIDERS["cpu"])
        self._providers = providers
        self._session = self._make_session(profile=False)
        self.inputs = [self._tensor(t) for t in self._session.get_inputs()]
        self.outputs = [self._tensor(t) for t in self._session.get_outputs()]
        self._in_names = [t.name for t in self.inputs]
        self._out_names = [t.name for t in self.outputs]

    def _make_session(self, *, profile: bool, profile_prefix: str | None = None) -> Any:
        ort = _ort()
        options = ort.SessionOptions()
        options.log_severity_level = 3
        if self.optimization is not None:
            options.graph_optimization_level = getattr(
                ort.GraphOptimizationLevel, OPTIMIZATION_LEVELS[self.optimization]
            )
        if self.threads is not None:
            options.intra_op_num_threads = self.threads
            options.inter_op_num_threads = 1
        if profile:
            options.enable_profiling = True
            options.profile_file_prefix = profile_prefix or "edgekit_ort"
        try:
            return ort.InferenceSession(self._path, options, providers=self._providers)
        except Exception as exc:  # ORT's own exception types (InvalidProtobuf, Fail, ...)
            raise ModelFileError(f"ONNX Runtime could not load {self._path}: {exc}") from exc

    @staticmethod
    def _tensor(t: Any) -> FileTensor:
        shape = tuple(d if isinstance(d, int) and d >= 0 else None for d in t.shape)
        return FileTensor(name=t.name, shape=shape, dtype=np.dtype(_ONNX_TYPES.get(t.type, np.float32)))

    def run(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        return self._session.run(self._out_names, dict(zip(self._in_names, arrays, strict=True)))

    def op_histogram(self) -> dict[str, int]:
        try:
            import onnx
        except ImportError:
            return {op: int(v["count"]) for op, v in (self._node_events(None, 1)[0]).items()}
        model = onnx.load(self._path, load_external_data=False)
        return dict(Counter(node.op_type for node in model.graph.node))

    def _node_events(
        self, arrays: list[np.ndarray] | None, runs: int
    ) -> tuple[dict[str, dict[str, float]], dict[str, Counter]]:
        """Run with ORT's profiler; aggregate kernel time per op type and nodes per provider."""
        if arrays is None:
            arrays = [np.zeros([d or 1 for d in t.shape], dtype=t.dtype) for t in self.inputs]
        with tempfile.TemporaryDirectory() as tmp:
            session = self._make_session(profile=True, profile_prefix=os.path.join(tmp, "ort"))
            feed = dict(zip(self._in_names, arrays, strict=True))
            for _ in range(runs):
                session.run(self._out_names, feed)
            with open(session.end_profiling()) as fh:
                events = json.load(fh)
        per_op: dict[str, dict[str, float]] = defaultdict(lambda: {"count": 0, "total_ms": 0.0})
        providers: dict[str, Counter] = defaultdict(Counter)
        nodes_seen: set[str] = set()
        for ev in events:
            if ev.get("cat") != "Node" or not ev.get("name", "").endswith("_kernel_time"):
                continue
            args = ev.get("args", {})
            op = args.get("op_name", "?")
            per_op[op]["total_ms"] += ev.get("dur", 0) / 1000.0 / runs
            node = ev["name"]
            if node not in nodes_seen:
                nodes_seen.add(node)
                per_op[op]["count"] += 1
                providers[args.get("provider", "?")][op] += 1
        for stats in per_op.values():
            stats["mean_ms"] = stats["total_ms"] / max(stats["count"], 1)
        return dict(per_op), dict(providers)

    def delegate_coverage(self) -> dict[str, Any]:
        _, providers = self._node_events(None, 1)
        main = PROVIDERS[self.delegate]
        total = sum(sum(c.values()) for c in providers.values())
        fallback: Counter = Counter()
        for provider, ops in providers.items():
            if provider != main:
                fallback.update(ops)
        return {
            "delegate": self.delegate,
            "total_nodes": total,
            "delegated_nodes": sum(providers.get(main, Counter()).values()),
            "fallback_op_types": dict(fallback),
        }

    def op_times(self, arrays: list[np.ndarray], runs: int) -> dict[str, dict[str, float]] | None:
        return self._node_events(arrays, max(1, runs))[0]


def _has_dist(name: str) -> bool:
    try:
        metadata.version(name)
    except metadata.PackageNotFoundError:
        return False
    return True
