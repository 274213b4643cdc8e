"""portal models."""
