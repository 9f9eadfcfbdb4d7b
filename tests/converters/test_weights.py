"""Large weights are held as TF variables while the graph is traced (less memory and time in the TFLite
converter); small constants stay graph constants, and the converted file is unchanged in what it computes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import torch

import edgekit as ek
from edgekit.converters.tflite.builder import GraphTranslator
from edgekit.converters.tflite.tf_import import tensorflow
from edgekit.converters.tflite.weights import MIN_ELEMENTS


def test_large_weights_become_variables_and_keep_parity(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 64, 3, padding=1),  # 1,728-element kernel: a variable
        torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(64, 512),  # 32,768-element weight: a variable; 512-element bias: a constant
        torch.nn.ReLU(),
        torch.nn.Linear(512, 10),  # 5,120-element weight: a variable
    ).eval()
    x = torch.rand(1, 3, 16, 16)
    onnx_path = ek.export(model, x, tmp_path / "m.onnx").path

    translator = GraphTranslator(onnx.load(str(onnx_path)))
    graph = translator.function(tensorflow()).graph
    assert sorted(int(np.prod(v.shape)) for v in translator.weights.variables) == [1728, 5120, 32768]
    consts = [op.outputs[0].shape.num_elements() for op in graph.get_operations() if op.type == "Const"]
    assert consts and max(consts) < MIN_ELEMENTS, consts

    result = ek.convert(onnx_path, tmp_path / "m.tflite")
    report = ek.compare(model, result.path, [np.random.default_rng(0).random((4, 3, 16, 16), np.float32)])
    assert report.within(cosine=0.9999, rel_max_abs=1e-3), report.summary()
