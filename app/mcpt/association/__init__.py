"""The association core: per-camera tracking, cross-camera clustering and cluster self-refinement.

Pure numpy/scipy/lap, deterministic for a given input. It consumes ObservationBatch records only.
"""
