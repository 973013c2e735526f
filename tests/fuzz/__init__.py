"""The fuzz tier: hostile messages through the real hubs."""
