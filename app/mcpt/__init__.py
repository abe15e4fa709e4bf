"""mcpt: online multi-camera people tracking.

The package imports nothing heavy at the top level: numpy-level modules load on demand and
torch, ultralytics, pyds and tensorrt are only imported inside the commands that need them.
"""

__version__ = "0.1.0"
