"""Every CSV the product serves is written here (`csv_response`), so every cell is neutralised the same way.

Streamed CSV downloads of list pages: the page's own query, fetched in chunks in its SQL order.

A list page shows 50 rows; its CSV walks the same query page by page (`CHUNK` rows per statement, the
key columns as tie-breaker, so no row is repeated or skipped while nothing changes), and writes each
chunk as it arrives, so memory stays flat whatever the size. Cells that a spreadsheet would run as a
formula (starting with = + - @ or a control character) are prefixed with an apostrophe.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable, Iterable, Iterator

from flask import Response, current_app

from lightserv.common.pagination import Page, PageRequest

CHUNK = 500
ROW_LIMIT = 100_000
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None).isoformat(sep=" ", timespec="seconds")
    if isinstance(value, dt.date):
        return value.isoformat()
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def pages(fetch: Callable[[PageRequest], Page], first: PageRequest, limit: int = ROW_LIMIT) -> Iterator[list]:
    """Every row of the query behind `fetch`, `CHUNK` at a time, in the order of `first` (whose page
    and page size are ignored)."""
    number, sent = 1, 0
    while sent < limit:
        page = fetch(PageRequest(page=number, per_page=CHUNK, sort=first.sort, direction=first.direction))
        if not page.items:
            return
        rows = page.items[: limit - sent]
        yield rows
        sent += len(rows)
        if not page.has_next:
            return
        number += 1


def csv_response(filename: str, header: list[str], chunks: Iterable[Iterable[list]]) -> Response:
    """A streamed `text/csv` attachment: the header, then each chunk of rows as it is produced.

    `chunks` must not need the request context (bind the user and filters before): each chunk is
    produced inside an app context entered and left around that one step, so no context is held while
    the server sends, and a response that is never read to the end leaves none behind."""
    app = current_app._get_current_object()

    def render(rows) -> str:
        out = io.StringIO()
        writer = csv.writer(out)
        for row in rows:
            writer.writerow([cell(v) for v in row])
        return out.getvalue()

    def generate() -> Iterator[str]:
        yield render([header])
        it = iter(chunks)
        while True:
            with app.app_context():
                rows = next(it, None)
                text = render(rows) if rows is not None else ""
            if rows is None:
                return
            yield text

    return Response(
        generate(),
        mimetype="text/csv",
        headers={"Content-Disposition": f"attachment; filename={filename}", "Cache-Control": "no-store"},
    )

