"""Run ONNX / TFLite models with numpy (no torch, no tensorflow)."""
