"""The direct TFLite writer: ONNX -> an in-memory TFLite model -> flatbuffer, without TensorFlow.

``ir`` (tensors, operators, one subgraph), ``emitter`` (the op vocabulary the handlers in ``ops/`` call,
each call one TFLite builtin, constants folded in numpy), ``passes`` (fusions the MLIR converter used to
do: bias and activation into CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED / ADD, dead tensors, buffer
dedupe), ``serialize`` (the flatbuffer, through the schema bindings LiteRT ships) and ``convert`` (the
entry point used by ``converters.tflite.convert`` for ``writer="direct"``).
"""
