"""DeepStream backend: one batched GPU pipeline per scene, a pad probe feeding the association core.

Nothing here imports pyds, gi or tensorrt at module level: ``run.py`` imports them when the
backend is actually run, and every other module takes them as arguments, so the logic is tested
on CPU with fakes.
"""
