"""Perception backends. Each yields one ObservationBatch per time step for the association core."""
