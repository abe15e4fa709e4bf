"""Self-supervised ReID adaptation: pseudo-identities mined from a site's own unlabelled video."""
