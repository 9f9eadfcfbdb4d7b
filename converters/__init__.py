"""PyTorch -> ONNX -> TFLite conversion and parity checks (``edgekit.converters``).

The public verbs are ``edgekit.export``, ``edgekit.convert`` and ``edgekit.compare``.
"""
