"""Per-user notification preferences and the daily digest."""
