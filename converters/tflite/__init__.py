"""ONNX → TFLite: one handler per ONNX op (``ops/``, looked up in ``registry``), values that carry their
layout (``values``), the graph builder (``builder``), the exact-GELU fusion pass (``fuse_gelu``), large
weights as variables during tracing (``weights``), the entry point (``convert``) with its two writers,
``direct/`` (edgekit writes the flatbuffer; default, no TensorFlow) and TensorFlow's converter
(``writer="tf"``), and the metadata written into the file (``metadata``)."""
