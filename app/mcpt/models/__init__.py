"""Model manifest and ONNX Runtime model wrappers (no torch here)."""
