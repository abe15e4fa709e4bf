"""Single-camera tracking: a BoT-SORT style tracker per camera and the stage that turns its tracks into Observations.

The layer below association: it sees one camera at a time and knows nothing of the others.
"""
