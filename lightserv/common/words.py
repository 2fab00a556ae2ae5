"""Counted nouns in plain English: "1 sample", "2 samples" (never "sample(s)")."""

from __future__ import annotations


def plural(count: int, noun: str, many: str | None = None) -> str:
    """ "1 sample", "3 samples", "2 batches" (`many` for irregular plurals)."""
    return f"{count} {noun if count == 1 else (many or noun + 's')}"
