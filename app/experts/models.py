"""experts models."""
