"""Real model files for the runtime tests, built once per session.

* ``onnx_path``: a small Conv-BN-ReLU convnet exported by torch.onnx (dynamo), NCHW, dynamic batch.
* ``tflite_fp32_path`` / ``tflite_int8_path``: a Keras convnet (NHWC) converted by TensorFlow's own
  converter, fp32 and full-integer int8 (representative dataset), *without* edgekit metadata.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(scope="session")
def torch_cnn():
    import torch

    from edgekit.demo import DigitsCNN

    torch.manual_seed(0)
    model = DigitsCNN(widths=(8, 16, 16))
    model.train()
    with torch.no_grad():  # non-trivial BatchNorm statistics
        for _ in range(3):
            model(torch.rand(16, 1, 8, 8))
    return model.eval()


@pytest.fixture(scope="session")
def onnx_path(tmp_path_factory: pytest.TempPathFactory, torch_cnn) -> Path:
    import torch

    model = torch_cnn
    path = tmp_path_factory.mktemp("onnx") / "cnn.onnx"
    batch = torch.export.Dim("batch", min=1, max=64)
    torch.onnx.export(
        model,
        (torch.randn(2, 1, 8, 8),),
        str(path),
        dynamo=True,
        external_data=False,
        input_names=["image"],
        output_names=["logits"],
        dynamic_shapes={"x": {0: batch}},
        verbose=False,
    )
    return path


def _keras_tflite(path: Path, int8: bool) -> Path:
    import tensorflow as tf

    tf.random.set_seed(0)
    inputs = tf.keras.Input((8, 8, 1), batch_size=1, name="image")
    x = tf.keras.layers.Conv2D(8, 3, padding="same", activation="relu")(inputs)
    x = tf.keras.layers.DepthwiseConv2D(3, padding="same", activation="relu")(x)
    x = tf.keras.layers.GlobalAveragePooling2D()(x)
    outputs = tf.keras.layers.Dense(10)(x)
    model = tf.keras.Model(inputs, outputs)
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if int8:
        rng = np.random.default_rng(0)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: (
            [rng.random((1, 8, 8, 1), dtype=np.float32)] for _ in range(32)
        )
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    path.write_bytes(converter.convert())
    return path


@pytest.fixture(scope="session")
def tflite_fp32_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _keras_tflite(tmp_path_factory.mktemp("tfl") / "cnn_fp32.tflite", int8=False)


@pytest.fixture(scope="session")
def tflite_int8_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _keras_tflite(tmp_path_factory.mktemp("tfl") / "cnn_int8.tflite", int8=True)
