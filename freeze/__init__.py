"""nova-freeze: migration mode for the Nova compute API."""
