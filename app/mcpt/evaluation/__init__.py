"""AIC24 evaluation: HOTA on ground-plane positions, plus per-camera box HOTA and IDF1."""
