"""Scenes on disk in the AI City Challenge 2024 Track 1 layout."""
