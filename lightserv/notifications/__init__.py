"""Per-user notification preferences and the daily digest (beyond.md §12)."""
