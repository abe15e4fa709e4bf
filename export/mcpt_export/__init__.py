"""Export tooling for mcpt: torch model definitions, ONNX export, TensorRT engines.

Needs the export extras (`make install-export`: torch CPU wheel + ultralytics). Nothing here
is imported by the runtime; torch is imported inside the functions that use it.
"""
