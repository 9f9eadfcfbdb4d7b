"""Runtime backends, by name. Each is imported only when used (no runtime is required at import)."""

from __future__ import annotations

from typing import Any

from edgekit.errors import RuntimeSettingError, RuntimeUnavailableError

#: backend name -> the model file format it runs
FORMATS = {"litert": "tflite", "onnxruntime": "onnx"}


def backend_for(fmt: str, requested: str) -> str:
    """The backend that runs files of format ``fmt`` ("auto" picks by format)."""
    if requested == "auto":
        return next(name for name, f in FORMATS.items() if f == fmt)
    if requested not in FORMATS:
        raise RuntimeUnavailableError(
            f"unknown backend {requested!r}; choose one of: auto, {', '.join(FORMATS)}"
        )
    if FORMATS[requested] != fmt:
        raise RuntimeUnavailableError(f"backend {requested!r} runs .{FORMATS[requested]} files, not .{fmt}")
    return requested


def open_backend(
    name: str, path: str, *, delegate: str, threads: int | None, ort_optimization: str | None = None
) -> Any:
    if name == "litert":
        if ort_optimization is not None:
            raise RuntimeSettingError(
                f"ort_optimization={ort_optimization!r} is an ONNX Runtime option; {path} runs in LiteRT: drop it"
            )
        from edgekit.runtime.backends.litert import LiteRTBackend

        return LiteRTBackend(path, delegate=delegate, threads=threads)
    from edgekit.runtime.backends.onnxruntime import OnnxRuntimeBackend

    return OnnxRuntimeBackend(path, delegate=delegate, threads=threads, optimization=ort_optimization)


def available_backends() -> list[str]:
    """Backends whose runtime package is importable here."""
    from edgekit.runtime.backends import litert, onnxruntime

    return [name for name, mod in (("litert", litert), ("onnxruntime", onnxruntime)) if mod.is_available()]


def available_delegates(backend: str | None = None) -> dict[str, list[str]]:
    """Delegates per available backend (or for one backend)."""
    from edgekit.runtime.backends import litert, onnxruntime

    modules = {"litert": litert, "onnxruntime": onnxruntime}
    names = [backend] if backend else available_backends()
    return {name: modules[name].available_delegates() for name in names}
