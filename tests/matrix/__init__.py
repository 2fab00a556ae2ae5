"""Rows of the permission-matrix test, one module per area (each defines `ROWS`).

A row: endpoint -> (method, url, {subject: expected status}). Subjects: anonymous, stranger (a
researcher with no relation to the request), owner, auditor, collaborator, clearing, imaging,
processing, admin. In urls, `{owner}` and `{request}` name a request owned by "owner" that "auditor"
and "collaborator" are named on (built by the test). A subject left out of a row is not checked for it;
every row should list all nine.
"""

from __future__ import annotations

import importlib
import pkgutil

SUBJECTS = ("anonymous", "stranger", "owner", "auditor", "collaborator", "clearing", "imaging", "processing", "admin")


def all_rows() -> dict[str, tuple[str, str, dict[str, int]]]:
    rows: dict[str, tuple[str, str, dict[str, int]]] = {}
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        for endpoint, row in module.ROWS.items():
            assert endpoint not in rows, f"{endpoint} appears in two matrix modules"
            rows[endpoint] = row
    return rows


def same(status: int, **exceptions: int) -> dict[str, int]:
    """Every subject gets `status` except those named."""
    return {s: exceptions.get(s, status) for s in SUBJECTS}
