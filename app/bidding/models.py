"""bidding models."""
