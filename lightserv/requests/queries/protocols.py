"""The clearing protocols a request chooses from; the clearing pages read the same list."""

from __future__ import annotations

from flask import g

from lightserv.db import get_schemas


def list_protocols() -> list[dict]:
    """Every protocol (retired ones too: old batches still use them), in legend order."""
    cache = g.setdefault("_clearing_protocols", None)
    if cache is None:
        ls = get_schemas().lightsheet
        cache = ls.ClearingProtocol().to_dicts(order_by=["sort_order", "protocol"])
        g._clearing_protocols = cache
    return cache
