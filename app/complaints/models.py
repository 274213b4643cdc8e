"""complaints models."""
