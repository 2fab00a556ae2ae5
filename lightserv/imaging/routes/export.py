"""CSV of one imaging-queue table (issue 10): the batches of that table for the page's filters, in the
table's sort order, every page, streamed (lightserv.common.csvexport)."""

from __future__ import annotations

import functools

from flask import abort, request
from flask_login import current_user

from lightserv.common.csvexport import csv_response, pages
from lightserv.common.pagination import parse_page_request
from lightserv.common.permissions import can
from schemas.enums import CLEARING_PROGRESS_LABELS

from .. import queries
from ..access import queue_route
from . import bp

HEADER = [
    "submitted_at_utc",
    "request_name",
    "owner",
    "microscope",
    "resolutions",
    "clearing_batch",
    "imaging_request",
    "imaging_batch",
    "samples",
    "samples_done",
    "clearer",
    "clearing_progress",
    "imager",
    "species",
    "completed_at_utc",
]


def queue_filter() -> queries.QueueFilter:
    """The queue page's filters (the same parsing as `queue.queue`)."""
    microscope = request.args.get("microscope", "")
    return queries.QueueFilter(
        only_mine=request.args.get("mine") == "1",
        microscope=microscope if microscope in queries.MICROSCOPES else "",
        owner=request.args.get("owner", "")[:32],
    )


def _row(r: dict) -> list:
    return [
        r["submitted_at"],
        r["request_name"],
        r["username"],
        r["microscope_label"],
        r["resolutions"],
        r["clearing_batch_number"],
        r["imaging_request_number"],
        r["imaging_batch_number"],
        r["number_in_imaging_batch"],
        r["samples_done"],
        r["clearer"] or "",
        CLEARING_PROGRESS_LABELS.get(r["clearing_progress"], ""),
        r["imager"] or "",
        r["species"],
        r["completed_at"],
    ]


@bp.route("/queue.csv")
@queue_route
def queue_csv():
    table = request.args.get("table", "")
    if table not in queries.QUEUE_TABLES:
        abort(400, f"Choose a table: {', '.join(queries.QUEUE_TABLES)}.")
    viewer = current_user.get_id()
    sees_all = can(current_user, "imaging.open_queue")
    first = parse_page_request(queries.QUEUE_SORTS, queries.QUEUE_DEFAULT_SORT[table])
    fetch = functools.partial(queries.list_queue, table, viewer, sees_all, queue_filter())
    chunks = ([_row(r) for r in rows] for rows in pages(fetch, first))
    return csv_response(f"lightserv-imaging-{table}.csv", HEADER, chunks)
