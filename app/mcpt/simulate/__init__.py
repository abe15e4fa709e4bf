"""Scene simulator: calibrated cameras over a shared floor, people walking, realistic perception."""
