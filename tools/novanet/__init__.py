"""nova-network test data: generated databases (not shipped)."""
