"""``Model``: load a .tflite or .onnx file and run it with numpy, in the PyTorch model's layout.

>>> from edgekit.runtime import Model                      # doctest: +SKIP
>>> m = Model.load("mobilenet_v2.tflite", threads=2)      # doctest: +SKIP
>>> m(np.zeros((1, 3, 224, 224), np.float32)).shape       # doctest: +SKIP
(1, 1000)
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from edgekit.errors import InputSpecError
from edgekit.runtime import backends, model_file
from edgekit.runtime.backends.base import FileTensor
from edgekit.runtime.detections import Detections, decode_detections
from edgekit.runtime.metadata import ModelMetadata, TensorLayout
from edgekit.runtime.settings import check_delegate, check_threads

if TYPE_CHECKING:
    from edgekit.runtime.profile import Profile

log = logging.getLogger(__name__)

Inputs = np.ndarray | Sequence[np.ndarray] | Mapping[str, np.ndarray]


@dataclass(frozen=True)
class TensorSpec:
    """One input or output as the user sees it.

    ``shape`` is in the source (PyTorch) layout, ``None`` for dynamic dims; ``dtype`` is what ``run``
    takes/returns (float32 for an int8 tensor unless ``raw=True``); ``file_shape``/``file_dtype`` are the
    file's; ``quantization`` is ``(scale, zero_point)`` for int8/uint8 tensors.
    """

    name: str
    shape: tuple[int | None, ...]
    dtype: np.dtype
    file_shape: tuple[int | None, ...]
    file_dtype: np.dtype
    quantization: tuple[float, int] | None
    to_file_perm: tuple[int, ...] | None

    def describe(self) -> str:
        dims = "x".join("?" if d is None else str(d) for d in self.shape)
        q = f" int8 scale={self.quantization[0]:.6g} zp={self.quantization[1]}" if self.quantization else ""
        return f"{self.name}: {dims} {self.dtype}{q}"


@dataclass(frozen=True)
class _Binding:
    """Precomputed per-tensor work for the hot path."""

    spec: TensorSpec
    perm: tuple[int, ...] | None
    inv_perm: tuple[int, ...] | None
    scale: float | None
    zero_point: int
    qmin: int
    qmax: int


def _source_order(files: list[FileTensor], metadata: ModelMetadata | None) -> list[int]:
    """File output indices in the source model's order.

    The TFLite converter may list a graph's outputs in another order than the function returned them;
    it names each ``<call>:<k>`` after its position ``k`` in the returned list (the ONNX output order,
    which edgekit's metadata records), so that suffix restores the order.
    """
    identity = list(range(len(files)))
    if metadata is None or len(metadata.outputs) != len(files) or len(files) < 2:
        return identity
    positions = [m.group(1) for f in files if (m := re.search(r":(\d+)$", f.name))]
    if len(positions) != len(files) or sorted(int(p) for p in positions) != identity:
        return identity
    return sorted(identity, key=lambda i: int(positions[i]))


def _bindings(files: list[FileTensor], layouts: Sequence[TensorLayout] | None) -> list[_Binding]:
    out = []
    for i, ft in enumerate(files):
        layout = layouts[i] if layouts and i < len(layouts) else None
        perm = layout.to_file_perm if layout else None
        inv = layout.from_file_perm() if layout else None
        shape = tuple(ft.shape[p] for p in inv) if inv else ft.shape
        if layout and layout.source_shape and len(layout.source_shape) == len(shape):
            shape = tuple(s if s is not None else d for s, d in zip(shape, layout.source_shape, strict=True))
        quant = (ft.scale, ft.zero_point) if ft.quantized else None
        info = np.iinfo(ft.dtype) if np.issubdtype(ft.dtype, np.integer) else None
        spec = TensorSpec(
            name=layout.name if layout else ft.name,
            shape=shape,
            dtype=np.dtype(np.float32) if quant else ft.dtype,
            file_shape=ft.shape,
            file_dtype=ft.dtype,
            quantization=quant,  # type: ignore[arg-type]
            to_file_perm=perm,
        )
        out.append(
            _Binding(
                spec,
                perm,
                inv,
                ft.scale,
                ft.zero_point or 0,
                int(info.min) if info else 0,
                int(info.max) if info else 0,
            )
        )
    return out


def _fits_integer(a: np.ndarray, dtype: np.dtype) -> bool:
    """True when integer ``a`` can be cast to the integer ``dtype`` without changing a value."""
    target = np.dtype(dtype)
    if a.dtype.kind not in "iu" or target.kind not in "iu":
        return False
    info = np.iinfo(target)
    return a.size == 0 or bool(info.min <= a.min() and a.max() <= info.max)


class Model:
    """A model file loaded in a runtime; numpy in, numpy out.

    Use :meth:`load`. Inputs are taken in the layout of the original PyTorch model (NCHW) when the
    file carries edgekit metadata (files written by ``edgekit.export``/``convert``). Int8 tensors are
    quantized/dequantized for you (``raw=True`` passes the file's tensors through). A batch larger than a
    file's fixed batch of 1 is run sample by sample.
    """

    def __init__(self, path: Path, backend: Any, metadata: ModelMetadata | None, load_ms: float) -> None:
        self.path = path
        self._backend = backend
        self.metadata = metadata
        self.load_ms = load_ms
        self._in = _bindings(backend.inputs, metadata.inputs if metadata else None)
        self._out_order = _source_order(backend.outputs, metadata)
        self._out = _bindings(
            [backend.outputs[i] for i in self._out_order], metadata.outputs if metadata else None
        )
        self._warned_layout = False

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str],
        *,
        backend: str = "auto",
        delegate: str = "auto",
        threads: int | None = None,
        ort_optimization: str | None = None,
    ) -> Model:
        """Validate and load ``path`` (.tflite or .onnx).

        ``backend``: "auto", "litert", "onnxruntime". ``delegate``: "auto", "cpu", "xnnpack", "none",
        "gpu", "cuda", "tensorrt", "coreml", "nnapi", ... — one that is not available raises
        :class:`~edgekit.errors.DelegateUnavailableError` listing those that are. ``threads``: a positive
        int, or None for the runtime's default. ``ort_optimization`` (ONNX Runtime only): graph optimization
        level "disabled", "basic", "extended" or "all" (None: ORT's default); "basic" runs a QDQ file with
        ONNX semantics (no fused int8 kernels), which is how export judges QDQ files. A bad ``threads`` / ``delegate`` value raises
        :class:`~edgekit.errors.RuntimeSettingError` (a ``ValueError`` too, for older callers).
        """
        check_threads(threads)
        delegate = check_delegate(delegate)
        p = Path(path)
        fmt = model_file.validate(p)
        name = backends.backend_for(fmt, backend)
        meta = model_file.read_metadata(p)
        start = time.perf_counter_ns()
        impl = backends.open_backend(
            name, str(p), delegate=delegate, threads=threads, ort_optimization=ort_optimization
        )
        load_ms = (time.perf_counter_ns() - start) / 1e6
        log.info("loaded %s with %s (delegate %s) in %.1f ms", p, impl.runtime, impl.delegate, load_ms)
        return cls(p, impl, meta, load_ms)

    # --- description -------------------------------------------------------------------------------
    @property
    def inputs(self) -> list[TensorSpec]:
        return [b.spec for b in self._in]

    @property
    def outputs(self) -> list[TensorSpec]:
        return [b.spec for b in self._out]

    @property
    def backend(self) -> str:
        return self._backend.name

    @property
    def delegate(self) -> str:
        return self._backend.delegate

    @property
    def threads(self) -> int | None:
        return self._backend.threads

    @property
    def runtime_name(self) -> str:
        """The runtime that ran, e.g. ``"ai-edge-litert 2.3.0"``."""
        return self._backend.runtime

    @property
    def quantized(self) -> bool:
        return any(b.spec.quantization for b in self._in + self._out)

    def op_histogram(self) -> dict[str, int]:
        """Op type -> count, as the file's graph declares them."""
        return self._backend.op_histogram()

    def delegate_coverage(self) -> dict[str, Any]:
        """Nodes taken by the delegate / execution provider and op types left on the fallback path."""
        return self._backend.delegate_coverage()

    def __repr__(self) -> str:
        return f"Model({str(self.path)!r}, backend={self.backend!r}, delegate={self.delegate!r})"

    # --- running -----------------------------------------------------------------------------------
    def detect(self, image: np.ndarray) -> Detections:
        """Run a file exported with NMS in the graph (``ExportConfig(nms=NMSConfig())``) on one image
        (``[1, 3, H, W]``, NCHW) and return its detections, best first.

        >>> Model.load("yolov8n_nms.tflite").detect(image).boxes.shape  # doctest: +SKIP
        (7, 4)
        """
        if self.metadata is None or "detection" not in self.metadata.extra:
            raise InputSpecError(
                f"{self.path.name} has no NMS in its graph: export it with ek.export(..., "
                "config=ek.ExportConfig(nms=ek.NMSConfig())), or read its raw outputs with run()"
            )
        return decode_detections(cast(dict[str, np.ndarray], self.run(image, as_dict=True)))

    def __call__(self, *inputs: np.ndarray) -> np.ndarray | list[np.ndarray]:
        return cast(np.ndarray | list[np.ndarray], self.run(inputs[0] if len(inputs) == 1 else list(inputs)))

    def run(
        self, inputs: Inputs, *, raw: bool = False, as_dict: bool = False
    ) -> np.ndarray | list[np.ndarray] | dict[str, np.ndarray]:
        """Run the model. ``inputs``: one array, a sequence in input order, or a dict by input name.

        Returns one array for a single-output model, else a list in the PyTorch model's output order;
        ``as_dict=True`` returns ``{output name: array}`` (names from the model's output keys, e.g.
        ``logits``, ``boxes.0``, for files written by ``edgekit.export``). Integer inputs (token ids)
        are cast to the file's integer type when their values fit (TFLite files take int32 indices
        where PyTorch used int64).
        """
        arrays = self._arrange(inputs)
        batch = self._batch_to_split(arrays)
        if batch is None:
            outs = self._backend.run([self._encode(b, a, raw) for b, a in zip(self._in, arrays, strict=True)])
        else:
            per_sample = [
                self._backend.run(
                    [self._encode(b, a[i : i + 1], raw) for b, a in zip(self._in, arrays, strict=True)]
                )
                for i in range(batch)
            ]
            outs = [np.concatenate([s[j] for s in per_sample]) for j in range(len(self._out))]
        outs = [outs[i] for i in self._out_order]
        results = [self._decode(b, o, raw) for b, o in zip(self._out, outs, strict=True)]
        if as_dict:
            return {b.spec.name: r for b, r in zip(self._out, results, strict=True)}
        return results[0] if len(results) == 1 else results

    def _arrange(self, inputs: Inputs) -> list[np.ndarray]:
        names = [b.spec.name for b in self._in]
        if isinstance(inputs, Mapping):
            missing = [n for n in names if n not in inputs]
            extra = [n for n in inputs if n not in names]
            if missing or extra:
                raise InputSpecError(
                    f"inputs by name must be exactly {names}; missing {missing}, unexpected {extra}"
                )
            arrays = [inputs[n] for n in names]
        elif isinstance(inputs, np.ndarray):
            arrays = [inputs]
        else:
            arrays = list(inputs)
        if len(arrays) != len(self._in):
            raise InputSpecError(
                f"the model takes {len(self._in)} input(s) ({'; '.join(s.describe() for s in self.inputs)}), "
                f"got {len(arrays)}"
            )
        for i, a in enumerate(arrays):
            if not isinstance(a, np.ndarray):
                raise InputSpecError(f"input {i} must be a numpy array, got {type(a).__name__}")
        return arrays

    def _batch_to_split(self, arrays: list[np.ndarray]) -> int | None:
        """Batch size to run sample by sample when the file's batch is fixed at 1, else None."""
        first = self._in[0].spec.shape
        a = arrays[0]
        if first and first[0] == 1 and a.ndim == len(first) and a.shape[0] > 1:
            return int(a.shape[0])
        return None

    def _encode(self, b: _Binding, a: np.ndarray, raw: bool) -> np.ndarray:
        spec = b.spec
        if a.shape != spec.shape and (
            a.ndim != len(spec.shape)
            or any(d is not None and d != s for d, s in zip(spec.shape, a.shape, strict=True))
        ):
            a = self._maybe_unlabelled_layout(b, a)
        perm = b.perm
        if b.scale is not None and not raw:
            if not np.issubdtype(a.dtype, np.floating):
                raise InputSpecError(
                    f"input {spec.name!r} takes float values (quantized internally), got {a.dtype}"
                )
            if not np.isfinite(a).all():
                raise InputSpecError(
                    f"input {spec.name!r} contains NaN or inf; an int8 model cannot represent them: clean the input"
                )
            q = np.rint(a / b.scale) + b.zero_point
            a = np.clip(q, b.qmin, b.qmax).astype(spec.file_dtype)
        elif a.dtype != spec.file_dtype:
            both_float = np.issubdtype(spec.file_dtype, np.floating) and np.issubdtype(a.dtype, np.floating)
            if both_float or _fits_integer(a, spec.file_dtype):
                a = a.astype(spec.file_dtype)
            else:
                raise InputSpecError(
                    f"input {spec.name!r} must be {spec.file_dtype if raw else spec.dtype}, got {a.dtype}"
                )
        if perm is not None:
            a = a.transpose(perm)
        return np.ascontiguousarray(a)

    def _maybe_unlabelled_layout(self, b: _Binding, a: np.ndarray) -> np.ndarray:
        spec = b.spec
        expected = "x".join("?" if d is None else str(d) for d in spec.shape)
        if self.metadata is None and a.ndim == 4 and len(spec.shape) == 4:
            nhwc = (a.shape[0], a.shape[2], a.shape[3], a.shape[1])
            ambiguous = a.shape[1] == a.shape[3]
            if not ambiguous and all(d is None or d == s for d, s in zip(spec.shape, nhwc, strict=True)):
                if not self._warned_layout:
                    log.warning(
                        "%s has no edgekit layout metadata; input %s given as NCHW %s, the file takes NHWC %s: "
                        "transposing",
                        self.path.name,
                        spec.name,
                        a.shape,
                        spec.shape,
                    )
                    self._warned_layout = True
                return a.transpose(0, 2, 3, 1)
        raise InputSpecError(
            f"input {spec.name!r} must have shape {expected} ({spec.dtype}), got {'x'.join(map(str, a.shape))}"
        )

    @staticmethod
    def _decode(b: _Binding, o: np.ndarray, raw: bool) -> np.ndarray:
        if b.inv_perm is not None:
            o = o.transpose(b.inv_perm)
        if b.scale is not None and not raw:
            o = (o.astype(np.float32) - b.zero_point) * np.float32(b.scale)
        return o

    def sample_inputs(self, seed: int = 0) -> list[np.ndarray]:
        """Random inputs that fit the model (batch 1 for dynamic dims), in user layout and dtype."""
        rng = np.random.default_rng(seed)
        arrays = []
        for spec in self.inputs:
            shape = [d if d is not None else 1 for d in spec.shape]
            if np.issubdtype(spec.dtype, np.floating):
                arrays.append(rng.random(shape, dtype=np.float32).astype(spec.dtype))
            else:
                arrays.append(rng.integers(0, 2, size=shape).astype(spec.dtype))
        return arrays

    def benchmark(
        self,
        *,
        runs: int = 100,
        warmup: int = 10,
        threads: int | None = None,
        op_profile: bool = True,
        progress: Any | None = None,
    ) -> Profile:
        """Measure latency here; the same path as ``ek.profile(model, config=ProfileConfig(...))``.

        ``threads`` other than the model's reloads the file with that many threads.
        """
        from edgekit.runtime.profiling import ProfileConfig, profile

        config = ProfileConfig(runs=runs, warmup=warmup, threads=threads, op_profile=op_profile)
        return profile(self, config=config, progress=progress)
