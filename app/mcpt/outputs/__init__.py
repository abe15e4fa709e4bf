"""Outputs people look at: a tiled, annotated video of all cameras and a bird's-eye view of the floor."""
