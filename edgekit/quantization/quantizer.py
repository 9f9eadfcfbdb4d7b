"""``TFLiteInt8Quantizer``: a torchao PT2E quantizer that annotates a graph the way TFLite int8 runs it.

Patterns (matched by walking the exported ATen graph):

* conv2d / linear [-> batch_norm] [-> relu | relu6 (hardtanh 0..6)]: input and weight observed, one
  output observer after the last op of the fused pattern (TFLite fuses them too);
* add [-> activation]: both inputs and the output quantized (no float island in residual blocks);
* max/avg pooling, flatten, reshape/view, permute/transpose, contiguous/clone, nearest upsampling, cat,
  slicing of a float tensor (LeViT's subsampling): output shares the input's scale (TFLite requires it);
* split / chunk (YOLO's C2f / C3k2 blocks, attention's q/k/v split): every piece shares the input's scale,
  as TFLite's SPLIT / SPLIT_V write it (no requantize after them);
* cat: every input at the first one's scale (TFLite's int8 CONCATENATION needs equal scales); an input
  used only by the concatenation (a detection head's per-level outputs, through reshapes / transposes) is
  written at that scale by its producer, so no requantize is needed before it;
* adaptive_avg_pool2d / mean: own output scale;
* hardswish, hardsigmoid (squeeze-and-excitation gates): input and output quantized; TFLite has no fused
  form of them, so the conv before them keeps its own output scale;
* sigmoid / softmax: the fixed output range TFLite defines (scale 1/256, zero point -128); one whose
  value is a model output (through reshapes / transposes: a detector's scores) runs in float on its
  int8 input instead, as the float tail after it does (no 1/256 rounding of the returned scores);
* silu: rewritten to x * sigmoid(x) before annotation, as TFLite runs it (LOGISTIC with its fixed
  output range, then MUL), so PyTorch rounds the sigmoid where TFLite does;
* mul (SiLU, squeeze-and-excitation scaling): inputs and output quantized (int8 MUL, no float island);
  div by a constant number likewise (the writer emits it as MUL by the reciprocal);
* prelu (MTCNN, face nets): input and output quantized, the slope int8 per tensor, symmetric (TFLite's int8
  PRELU reads one alpha scale);
* matmul / bmm: both inputs and the output quantized (int8 BATCH_MATMUL); scaled_dot_product_attention
  without dropout is rewritten to matmul -> mul(scale) [-> add(mask)] -> softmax -> matmul before
  annotation (a boolean or float mask becomes an additive tensor the int8 ADD reads at its own scale);
* batch_norm that PT2E could not fold into a conv / linear: folded into the Linear it reads through a
  flatten (LeViT), else rewritten to x * scale + shift before annotation, an int8 MUL and ADD (FastViT;
  ``batch_norm.py``);
* not annotated, so float in PyTorch and in the .tflite (a DEQUANTIZE / QUANTIZE pair and an export
  note): layer_norm (TFLite has no int8 kernel for it; its decomposition loses accuracy in int8) and any
  op not listed here.

With ``QuantConfig(scheme="int16x8")`` the same patterns get int16 activations (symmetric, zero point 0,
TFLite's 16x8 spec) and the fixed ranges become TFLite's int16 ones (scale 1/32768, zero point 0);
weights stay int8. ``QuantConfig(int16_layers=...)`` does the same for the patterns of the named layers
only (mixed precision; the other layers keep the scheme's activations).
"""

from __future__ import annotations

import operator
from collections.abc import Iterable
from typing import Any

import torch
from torch.fx import GraphModule, Node
from torchao.quantization.pt2e import (
    FakeQuantize,
    MinMaxObserver,
    MovingAverageMinMaxObserver,
    MovingAveragePerChannelMinMaxObserver,
    PerChannelMinMaxObserver,
)
from torchao.quantization.pt2e.quantizer import (
    FixedQParamsQuantizationSpec,
    QuantizationAnnotation,
    QuantizationSpec,
    Quantizer,
    SharedQuantizationSpec,
)

from edgekit.errors import QuantizationError
from edgekit.quantization.attention import MASK_TAG, SDPA, decompose_attention
from edgekit.quantization.batch_norm import BATCH_NORM as LONE_BATCH_NORM
from edgekit.quantization.batch_norm import decompose_batch_norm, fold_into_linear
from edgekit.quantization.config import LayerNormMode, QuantConfig, QuantScheme
from edgekit.quantization.layer_norm import LAYER_NORM, TAG, decompose_layer_norm
from edgekit.quantization.observers import activation_observer

aten = torch.ops.aten
COMPUTE = {aten.conv2d.default, aten.conv1d.default, aten.linear.default}
BATCH_NORM = {
    aten.batch_norm.default,
    aten._native_batch_norm_legit.default,
    aten._native_batch_norm_legit_no_training.default,
}
ACTIVATION = {
    aten.relu.default,
    aten.relu_.default,
    aten.hardtanh.default,
    aten.hardtanh_.default,
}
#: Elementwise ops TFLite runs as int8 ops of their own (no fused-activation form), so their input and
#: output are both quantized: HARD_SWISH, and HardSigmoid as ADD(+3, fused RELU6) -> MUL(1/6), whose inner
#: ranges the writer derives from the output.
OWN_RANGE_UNARY = {
    aten.hardswish.default,
    aten.hardswish_.default,
    aten.hardsigmoid.default,
    aten.hardsigmoid_.default,
}
ADD = {aten.add.Tensor, aten.add_.Tensor}
SHARED_SCALE = {
    aten.max_pool2d.default,
    aten.avg_pool2d.default,
    aten.flatten.using_ints,
    aten.view.default,
    aten.reshape.default,
    aten.dropout.default,
    aten.permute.default,
    aten.transpose.int,
    aten.upsample_nearest2d.default,
    aten.upsample_nearest2d.vec,
    aten.contiguous.default,  # ShuffleNet's channel shuffle: view -> transpose -> contiguous -> view
    aten.clone.default,
}
SPLIT = {aten.split.Tensor, aten.split_with_sizes.default, aten.chunk.default}
#: Slicing keeps the input's scale (STRIDED_SLICE does not rescale); only float tensors (BERT slices its
#: int64 position ids too).
SLICE = {aten.slice.Tensor}
MATMUL = {aten.matmul.default, aten.bmm.default}
OWN_SCALE = {aten.adaptive_avg_pool2d.default, aten.mean.dim, aten.mean.default}
FIXED_RANGE = {aten.sigmoid.default, aten.softmax.int, aten._softmax.default}
MUL = {aten.mul.Tensor, aten.mul_.Tensor}
DIV = {aten.div.Tensor, aten.div_.Tensor}
SILU = {aten.silu.default, aten.silu_.default}
PRELU = {aten.prelu.default}


def _single_user(node: Node, targets: Iterable[Any]) -> Node | None:
    users = list(node.users)
    if len(users) == 1 and users[0].op == "call_function" and users[0].target in targets:
        return users[0]
    return None


#: Activation specs per scheme: int8 asymmetric; int16 symmetric with zero point 0 (TFLite 16x8).
ACTIVATION_SPECS: dict[QuantScheme, dict[str, Any]] = {
    QuantScheme.INT8: {
        "dtype": torch.int8,
        "quant_min": -128,
        "quant_max": 127,
        "qscheme": torch.per_tensor_affine,
    },
    QuantScheme.INT16X8: {
        "dtype": torch.int16,
        "quant_min": -32768,
        "quant_max": 32767,
        "qscheme": torch.per_tensor_symmetric,
    },
}
#: TFLite's fixed output ranges of LOGISTIC / SOFTMAX per activation type: (scale, zero point).
FIXED_RANGES: dict[QuantScheme, tuple[float, int]] = {
    QuantScheme.INT8: (1.0 / 256.0, -128),
    QuantScheme.INT16X8: (1.0 / 32768.0, 0),
}


class TFLiteInt8Quantizer(Quantizer):
    """Annotates for int8 TFLite: per-channel symmetric weights, per-tensor asymmetric activations
    (int16 symmetric activations with ``scheme="int16x8"``)."""

    def __init__(self, config: QuantConfig, *, qat: bool = False) -> None:
        super().__init__()
        self.config = config
        self.qat = qat
        self._order: dict[Node, int] = {}  # graph position of each node, set by ``annotate``
        scheme = QuantScheme(config.scheme)
        if not scheme.calibrated:
            raise QuantizationError(f"scheme {scheme.value!r} has no activation quantization to annotate")
        self.scheme = scheme
        self.specs = {
            s: self._activation_specs(s)
            for s in (scheme, *([QuantScheme.INT16X8] if config.int16_layers else []))
        }
        self.act, self.fixed = self.specs[scheme]
        per_channel = config.per_channel_weights
        w_kwargs = {
            "dtype": torch.int8,
            "quant_min": -127,
            "quant_max": 127,
            "qscheme": torch.per_channel_symmetric if per_channel else torch.per_tensor_symmetric,
        }
        if per_channel:
            w_kwargs["ch_axis"] = 0
        if qat:
            obs = MovingAveragePerChannelMinMaxObserver if per_channel else MovingAverageMinMaxObserver
            w_ctr = FakeQuantize.with_args(observer=obs, **w_kwargs)
        else:
            w_ctr = (PerChannelMinMaxObserver if per_channel else MinMaxObserver).with_args(**w_kwargs)
        self.weight = QuantizationSpec(observer_or_fake_quant_ctr=w_ctr, **w_kwargs)
        slope_kwargs = {**w_kwargs, "qscheme": torch.per_tensor_symmetric}
        slope_kwargs.pop("ch_axis", None)
        slope_ctr = (
            FakeQuantize.with_args(observer=MovingAverageMinMaxObserver, **slope_kwargs)
            if qat
            else MinMaxObserver.with_args(**slope_kwargs)
        )
        self.slope = QuantizationSpec(observer_or_fake_quant_ctr=slope_ctr, **slope_kwargs)

    def _activation_specs(self, scheme: QuantScheme) -> tuple[QuantizationSpec, FixedQParamsQuantizationSpec]:
        """(observed activation spec, fixed-range spec) of ``scheme``'s activation type."""
        act_kwargs = dict(ACTIVATION_SPECS[scheme])
        if self.qat:
            act_ctr = FakeQuantize.with_args(observer=MovingAverageMinMaxObserver, **act_kwargs)
        else:
            act_ctr = activation_observer(self.config.calibrator, self.config.percentile, act_kwargs)
        fixed_scale, fixed_zero_point = FIXED_RANGES[scheme]
        fixed = FixedQParamsQuantizationSpec(
            dtype=act_kwargs["dtype"],
            scale=fixed_scale,
            zero_point=fixed_zero_point,
            quant_min=act_kwargs["quant_min"],
            quant_max=act_kwargs["quant_max"],
            qscheme=act_kwargs["qscheme"],
        )
        return QuantizationSpec(observer_or_fake_quant_ctr=act_ctr, **act_kwargs), fixed

    # --- helpers -----------------------------------------------------------------------------------
    @staticmethod
    def _inside(node: Node, layers: tuple[str, ...]) -> bool:
        """True when ``node`` comes from one of the modules named ``layers`` (or a submodule of one)."""
        if not layers:
            return False
        stack = node.meta.get("nn_module_stack") or {}
        names = [fqn for fqn, _ in stack.values()]
        return any(n == k or n.startswith(k + ".") for n in names for k in layers)

    def _skipped(self, node: Node) -> bool:
        return self._inside(node, self.config.keep_float)

    def _use_specs(self, node: Node) -> None:
        """Annotate ``node``'s pattern with int16 activations when it is one of ``config.int16_layers``
        (mixed precision: the writer inserts the int8 <-> int16 QUANTIZE ops at the boundaries)."""
        scheme = QuantScheme.INT16X8 if self._inside(node, self.config.int16_layers) else self.scheme
        self.act, self.fixed = self.specs[scheme]

    @staticmethod
    def _annotate(node: Node, inputs: dict[Node, Any], output: Any | None) -> None:
        node.meta["quantization_annotation"] = QuantizationAnnotation(
            input_qspec_map=inputs, output_qspec=output, _annotated=True
        )

    def _operand(self, arg: Node) -> Any:
        """An input's spec: a producer with a fixed output range (sigmoid's 1/256), also through
        shared-scale ops after it (softmax -> transpose), is read at that range, not re-quantized to an
        observed one (which would add a requantize op in the int8 file)."""
        if isinstance(_root_qspec(arg), FixedQParamsQuantizationSpec):
            return SharedQuantizationSpec(arg)
        return self.act

    @staticmethod
    def _mark(nodes: Iterable[Node]) -> None:
        for n in nodes:
            if "quantization_annotation" not in n.meta:
                n.meta["quantization_annotation"] = QuantizationAnnotation(_annotated=True)

    # --- Quantizer API -------------------------------------------------------------------------------
    def transform_for_annotation(self, model: GraphModule) -> GraphModule:
        """Rewrite silu(x) as mul(x, sigmoid(x)) so the sigmoid output can carry TFLite's fixed range, and
        scaled_dot_product_attention (no dropout) as matmul -> mul [-> add(mask)] -> softmax -> matmul, the
        ops TFLite runs in int8 (BATCH_MATMUL, MUL, ADD, SOFTMAX with its fixed range)."""
        graph = model.graph
        rewritten = False
        layer_norm = LayerNormMode(self.config.layer_norm) is LayerNormMode.INT8
        masks: dict[Node, Node] = {}
        for node in list(graph.nodes):
            if (
                layer_norm
                and node.op == "call_function"
                and node.target in LAYER_NORM
                and not self._skipped(node)
            ):
                rewritten = decompose_layer_norm(graph, node) or rewritten
                continue
            if (
                not self.qat
                and node.op == "call_function"
                and node.target in LONE_BATCH_NORM
                and not self._skipped(node)
            ):
                rewritten = fold_into_linear(model, node) or decompose_batch_norm(model, node) or rewritten
                continue
            if node.op == "call_function" and node.target in SDPA and not self._skipped(node):
                rewritten = decompose_attention(graph, node, masks) or rewritten
                continue
            if node.op != "call_function" or node.target not in SILU or self._skipped(node):
                continue
            x = node.args[0]
            with graph.inserting_before(node):
                sigmoid = graph.call_function(aten.sigmoid.default, (x,))
                product = graph.call_function(aten.mul.Tensor, (x, sigmoid))
            sigmoid.meta, product.meta = dict(node.meta), dict(node.meta)
            node.replace_all_uses_with(product)
            graph.erase_node(node)
            rewritten = True
        if rewritten:
            graph.lint()
            model.recompile()
        return model

    def annotate(self, model: GraphModule) -> GraphModule:
        done: set[Node] = set()
        self._order = {n: i for i, n in enumerate(model.graph.nodes)}
        for node in model.graph.nodes:
            if node.op != "call_function" or node in done:
                continue
            if node.meta.get(MASK_TAG):  # an attention mask's preparation: float, quantized where added
                continue
            if self._skipped(node):  # a layer kept float keeps its fused BatchNorm / activation float too
                done.update(self._chain(node) if node.target in COMPUTE else [node])
                continue
            self._use_specs(node)
            target = node.target
            if node.meta.get(TAG):  # an op of an int8 LayerNorm: every tensor operand and the output
                operands = {a: self._operand(a) for a in node.args if isinstance(a, Node)}
                self._annotate(node, operands, self.act)
            elif target in COMPUTE:
                done.update(self._compute_pattern(node))
            elif target in ADD and all(isinstance(a, Node) for a in node.args[:2]):
                last = _single_user(node, ACTIVATION) or node
                self._annotate(
                    node,
                    {node.args[0]: self.act, node.args[1]: self.act},
                    None if last is not node else self.act,
                )
                if last is not node:
                    self._annotate(last, {}, self.act)
                done.update({node, last})
            elif (target in ACTIVATION or target in OWN_RANGE_UNARY) and isinstance(node.args[0], Node):
                self._annotate(node, {node.args[0]: self.act}, self.act)
            elif (target in SHARED_SCALE or (target in SLICE and _is_float(node.args[0]))) and isinstance(
                node.args[0], Node
            ):
                source = node.args[0]
                self._annotate(node, {source: self._operand(source)}, SharedQuantizationSpec((source, node)))
            elif target in SPLIT and isinstance(node.args[0], Node):
                source = node.args[0]
                self._annotate(node, {source: self._operand(source)}, None)
                for piece in node.users:
                    if piece.op == "call_function" and piece.target is operator.getitem:
                        self._annotate(piece, {}, SharedQuantizationSpec((source, node)))
            elif target == aten.cat.default:
                tensors = [t for t in node.args[0] if isinstance(t, Node)]
                first = tensors[0]
                shared = SharedQuantizationSpec((first, node))
                self._annotate(node, {t: (self.act if t is first else shared) for t in tensors}, shared)
                for t in tensors[1:]:
                    self._write_at_shared_scale(t, first, shared)
            elif target in OWN_SCALE and isinstance(node.args[0], Node):
                self._annotate(node, {node.args[0]: self.act}, self.act)
            elif target in FIXED_RANGE and isinstance(node.args[0], Node):
                tail = _output_tail(node)
                self._annotate(node, {node.args[0]: self.act}, None if tail is not None else self.fixed)
                if tail is not None:  # returned scores: float sigmoid / softmax of the int8 logits
                    self._mark(tail)
                    done.update(tail)
            elif target in MATMUL and all(isinstance(a, Node) for a in node.args[:2]):
                self._annotate(
                    node,
                    {node.args[0]: self._operand(node.args[0]), node.args[1]: self._operand(node.args[1])},
                    self.act,
                )
            elif target in PRELU and all(isinstance(a, Node) for a in node.args[:2]):
                self._annotate(
                    node, {node.args[0]: self._operand(node.args[0]), node.args[1]: self.slope}, self.act
                )
            elif (
                target in DIV
                and isinstance(node.args[0], Node)
                and isinstance(node.args[1], int | float)
                and node.args[1] != 0
                and not node.kwargs.get("rounding_mode")
            ):  # x / c: the writer emits MUL(x, 1/c), an int8 MUL (LeViT's distilled head averages by / 2)
                self._annotate(node, {node.args[0]: self._operand(node.args[0])}, self.act)
            elif target in MUL and any(isinstance(a, Node) for a in node.args[:2]):
                operands = {a: self._operand(a) for a in node.args[:2] if isinstance(a, Node)}
                self._annotate(node, operands, self.act)
        return model

    def _write_at_shared_scale(self, tensor: Node, first: Node, shared: SharedQuantizationSpec) -> None:
        """A concatenated tensor whose only use is the concatenation (through reshapes / transposes, as a
        detection head's per-level outputs): its producer writes at the concatenation's scale, so TFLite's
        int8 CONCATENATION (equal input and output scales) needs no requantize before it. Only when the
        concatenation's first input comes earlier in the graph (torchao creates the observers in graph
        order; ViT's class token, expanded after the patch embedding, keeps a requantize instead)."""
        chain = []
        while (
            len(tensor.users) == 1
            and tensor.op == "call_function"
            and tensor.target in SHARED_SCALE
            and isinstance(tensor.args[0], Node)
        ):
            chain.append(tensor)
            tensor = tensor.args[0]
        annotation = tensor.meta.get("quantization_annotation")
        if len(tensor.users) != 1 or annotation is None or annotation.output_qspec is not self.act:
            return
        if self._order.get(first, -1) > self._order.get(tensor, -1):
            return
        annotation.output_qspec = shared
        for node in chain:
            source = node.args[0]
            assert isinstance(source, Node)
            node.meta["quantization_annotation"].input_qspec_map[source] = SharedQuantizationSpec(source)

    @staticmethod
    def _chain(node: Node) -> list[Node]:
        """A conv / linear node and the BatchNorm and ReLU / ReLU6 TFLite fuses into it."""
        chain = [node]
        bn = _single_user(node, BATCH_NORM)
        if bn is not None:
            chain.append(bn)
        act = _single_user(chain[-1], ACTIVATION)
        if act is not None and not (
            act.target in {aten.hardtanh.default, aten.hardtanh_.default} and not _is_relu6(act)
        ):
            chain.append(act)
        return chain

    def _compute_pattern(self, node: Node) -> list[Node]:
        chain = self._chain(node)
        inputs: dict[Any, Any] = {node.args[0]: self.act, node.args[1]: self.weight}
        self._annotate(node, inputs, self.act if len(chain) == 1 else None)
        if len(chain) > 1:
            self._mark(chain[1:-1])
            self._annotate(chain[-1], {}, self.act)
        return chain

    def validate(self, model: GraphModule) -> None:
        return None


def _output_tail(node: Node) -> list[Node] | None:
    """The reshapes / transposes between ``node`` and the model's output when ``node``'s value is
    returned and used by nothing else (a detector's scores, a classifier's probabilities); None otherwise.

    Such a sigmoid / softmax runs in float on its int8 input: its int8 output (TFLite's fixed scale 1/256)
    would be the last rounding, and it ties near-equal probabilities. On a YOLO head most anchors' best
    scores sit near 1, where 1/256 steps tie a third of the anchors' top two classes."""
    tail: list[Node] = []
    while len(node.users) == 1:
        user = next(iter(node.users))
        if user.op == "output":
            return tail
        if user.op != "call_function" or user.target not in SHARED_SCALE or user.args[0] is not node:
            return None
        tail.append(user)
        node = user
    return None


def _root_qspec(node: Node) -> Any:
    """The output spec a node's output really carries: a shared spec followed back to the spec it shares
    (through reshapes, transposes, split pieces), None when the node is not annotated."""
    seen: set[Node] = set()
    while node not in seen:
        seen.add(node)
        annotation = node.meta.get("quantization_annotation")
        spec = annotation.output_qspec if annotation is not None else None
        if not isinstance(spec, SharedQuantizationSpec):
            return spec
        shared = spec.edge_or_node
        if isinstance(shared, Node):
            node = shared
            continue
        source, consumer = shared
        consumer_annotation = consumer.meta.get("quantization_annotation")
        edge_spec = consumer_annotation.input_qspec_map.get(source) if consumer_annotation else None
        if not isinstance(edge_spec, SharedQuantizationSpec):
            return edge_spec
        node = source
    return None


def _is_float(node: Any) -> bool:
    """True for a float activation (not a stored parameter or an integer tensor)."""
    value = node.meta.get("val") if isinstance(node, Node) and node.op != "get_attr" else None
    return isinstance(value, torch.Tensor) and value.is_floating_point()


def _is_relu6(node: Node) -> bool:
    low = node.args[1] if len(node.args) > 1 else -1.0
    high = node.args[2] if len(node.args) > 2 else 1.0
    return bool(low == 0.0 and high == 6.0)
