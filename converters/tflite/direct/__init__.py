"""The direct TFLite writer: ONNX -> an in-memory TFLite model -> flatbuffer, without TensorFlow.

``ir`` (tensors, operators, one subgraph), ``emitter`` (the op vocabulary the handlers in ``ops/`` call,
each call one TFLite builtin, constants folded in numpy; ``einsum`` lowers Einsum for it), ``passes``
(fusions the MLIR converter used to do: BatchNorm's MUL into the weights, bias and activation into
CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED / ADD, HARD_SWISH, flatten before FULLY_CONNECTED, dead
operators), ``quantize`` (full int8 from QDQ with the ONNX scales as they are), ``serialize`` (the
flatbuffer through the schema bindings LiteRT ships, small constants deduplicated, large ones outside
the flatbuffer) and ``convert`` (the entry point used by ``converters.tflite.convert`` for
``writer="direct"``).
"""
