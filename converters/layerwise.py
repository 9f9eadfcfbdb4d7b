"""Layer-wise parity between a quantized PyTorch model, its ONNX QDQ file and its int8 TFLite file.

Every quantized activation carries a (scale, zero point) that edgekit copies exactly from PyTorch to
ONNX to TFLite, so tensors are matched across the three by that key (and shape, in order of appearance,
for tensors that share a scale such as a max-pool's output). Each layer's error is reported in units of
its own quantization step: 0 is bit-exact, 1 is one rounding step.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

#: a layer diverges when its max error exceeds this many quantization steps
TOLERANCE_STEPS = 2.0


@dataclass
class Tap:
    """One quantized intermediate tensor of one model (dequantized, NCHW)."""

    name: str
    scale: float
    zero_point: int
    value: np.ndarray
    raw: np.ndarray | None = None  # the integer values (NCHW), for TFLite taps

    @property
    def key(self) -> tuple[float, int, tuple[int, ...]]:
        """Quantization and shape without unit axes ([N, C, 1, 1] and [N, C] are the same tensor)."""
        shape = self.value.shape  # () for a scalar (a quantized constant such as HardSigmoid's +3)
        return (round(self.scale, 9), self.zero_point, (*shape[:1], *(d for d in shape[1:] if d != 1)))


@dataclass
class LayerParity:
    """Error of one matched tensor, in quantization steps of that tensor."""

    name: str
    candidate_name: str
    scale: float
    zero_point: int
    max_steps: float
    mean_steps: float
    shape: tuple[int, ...]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _torch_taps(model: Any, x: np.ndarray) -> list[Tap]:
    import torch

    q_targets = {torch.ops.quantized_decomposed.quantize_per_tensor.default}
    captured: list[Tap] = []

    class Recorder(torch.fx.Interpreter):
        def run_node(self, n: Any) -> Any:
            out = super().run_node(n)
            if n.op == "call_function" and n.target in q_targets:
                scale, zp = float(n.args[1]), int(n.args[2])
                value = (out.detach().numpy().astype(np.float32) - zp) * scale
                captured.append(
                    Tap(n.args[0].name if hasattr(n.args[0], "name") else n.name, scale, zp, value)
                )
            return out

    with torch.no_grad():
        Recorder(model).run(torch.from_numpy(x))
    return captured


def _onnx_taps(path: Path, x: np.ndarray) -> list[Tap]:
    import onnx
    import onnxruntime as ort
    from onnx import numpy_helper

    model = onnx.load(str(path))
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    consts = {
        n.output[0]: numpy_helper.to_array(n.attribute[0].t)
        for n in model.graph.node
        if n.op_type == "Constant"
    }
    inits.update(consts)
    quant = []
    for node in model.graph.node:
        if node.op_type == "QuantizeLinear" and node.input[0] not in inits:
            scale = inits.get(node.input[1])
            zp = inits.get(node.input[2]) if len(node.input) > 2 else np.zeros((), np.uint8)
            if scale is not None and zp is not None and scale.size == 1:
                quant.append(
                    (node.input[0], node.output[0], float(scale.reshape(-1)[0]), int(zp.reshape(-1)[0]))
                )
    existing = {o.name for o in model.graph.output}
    for _, out, _, _ in quant:
        if out not in existing:
            model.graph.output.append(onnx.ValueInfoProto(name=out))
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.graph_optimization_level = (
        ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    )  # QDQ semantics, no fusions
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    outs = dict(zip([o.name for o in session.get_outputs()], session.run(None, {name: x}), strict=True))
    return [Tap(src, s, z, (outs[out].astype(np.float32) - z) * s) for src, out, s, z in quant]


def _tflite_taps(path: Path, x: np.ndarray) -> list[Tap]:
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    from edgekit.runtime import Model

    wrapper = Model.load(path, delegate="none")
    (spec,) = wrapper.inputs
    interp = Interpreter(
        model_path=str(path),
        experimental_preserve_all_tensors=True,
        experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
    )
    interp.allocate_tensors()
    detail = interp.get_input_details()[0]
    scale, zp = detail["quantization"]
    q = np.clip(np.rint(x / scale) + zp, -128, 127).astype(np.int8) if scale else x.astype(np.float32)
    if spec.to_file_perm:
        q = q.transpose(spec.to_file_perm)
    interp.set_tensor(detail["index"], q)
    interp.invoke()
    taps: list[Tap] = []
    for t in interp.get_tensor_details():
        s, z = t["quantization"]
        if t["dtype"] != np.int8 or not s or len(t["quantization_parameters"]["scales"]) != 1:
            continue
        try:
            value = interp.get_tensor(t["index"])
        except ValueError:
            continue
        if value.ndim == 4 and value.shape[1:3] == (1, 1):  # [N, 1, 1, C]: a Linear run as a 1x1 conv
            value = value.reshape(value.shape[0], value.shape[3])
        if value.ndim == 4:
            value = value.transpose(0, 3, 1, 2)
        elif (
            source := _flattened_from(value, taps, float(s), int(z))
        ) is not None and source.raw is not None:
            value = source.raw.reshape(value.shape)  # ONNX's NCHW flatten order
        taps.append(Tap(t["name"], float(s), int(z), (value.astype(np.float32) - z) * s, value))
    return taps


def _flattened_from(value: np.ndarray, earlier: list[Tap], scale: float, zero_point: int) -> Tap | None:
    """The 4-D tap whose NHWC flatten ``value`` is (the translator flattens NHWC maps in place and permutes
    the next Linear's weights instead): same quantization, same values in another order."""
    if value.ndim != 2:
        return None
    ordered = np.sort(value, axis=None)
    for tap in reversed(earlier):
        raw = tap.raw
        if (
            raw is not None
            and raw.ndim == 4
            and raw.size == value.size
            and (tap.scale, tap.zero_point) == (scale, zero_point)
            and np.array_equal(np.sort(raw, axis=None), ordered)
        ):
            return tap
    return None


def taps(model: Any, x: np.ndarray) -> list[Tap]:
    """Quantized intermediate tensors of ``model`` on one NCHW sample ``x`` (batch 1)."""
    if isinstance(model, str | os.PathLike):
        path = Path(model)
        return _tflite_taps(path, x) if path.suffix == ".tflite" else _onnx_taps(path, x)
    return _torch_taps(model, x)


def match(reference: list[Tap], candidate: list[Tap]) -> list[tuple[Tap, Tap]]:
    """Pair taps with the same (scale, zero point, shape), in order of appearance."""
    pools: dict[tuple, list[Tap]] = {}
    for tap in candidate:
        pools.setdefault(tap.key, []).append(tap)
    pairs = []
    for tap in reference:
        pool = pools.get(tap.key)
        if pool:
            pairs.append((tap, pool.pop(0)))
    return pairs


def compare_layers(
    reference: Any, candidate: Any, inputs: Iterable[Any], *, samples: int = 8
) -> tuple[list[LayerParity], str | None]:
    """Per matched tensor, the max / mean error in quantization steps over up to ``samples`` samples.

    Returns the layers in the reference's order and the name of the first one whose max error exceeds
    :data:`TOLERANCE_STEPS` (None when all agree).
    """
    stats: dict[str, LayerParity] = {}
    order: list[str] = []
    seen = 0
    batches = [inputs] if isinstance(inputs, np.ndarray) else inputs
    for batch in batches:
        arr = np.asarray(batch.numpy() if hasattr(batch, "numpy") else batch, dtype=np.float32)
        for i in range(len(arr)):
            if seen >= samples:
                break
            x = arr[i : i + 1]
            for ref, cand in match(taps(reference, x), taps(candidate, x)):
                steps = np.abs(ref.value - cand.value.reshape(ref.value.shape)) / ref.scale
                entry = stats.get(ref.name)
                if entry is None:
                    order.append(ref.name)
                    stats[ref.name] = LayerParity(
                        ref.name,
                        cand.name,
                        ref.scale,
                        ref.zero_point,
                        float(steps.max()),
                        float(steps.mean()),
                        tuple(ref.value.shape),
                    )
                else:
                    entry.max_steps = max(entry.max_steps, float(steps.max()))
                    entry.mean_steps = (entry.mean_steps * seen + float(steps.mean())) / (seen + 1)
            seen += 1
    layers = [stats[name] for name in order]
    first = next((layer.name for layer in layers if layer.max_steps > TOLERANCE_STEPS), None)
    return layers, first
