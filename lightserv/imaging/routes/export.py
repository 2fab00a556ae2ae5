"""CSV of one imaging-queue table (issue 10): the batches of that table for the page's filters, in the
table's sort order, every page, streamed (lightserv.common.csvexport)."""

from __future__ import annotations

import functools

from flask import request
from flask_login import current_user

from lightserv.common.csvexport import queue_table_csv
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
    viewer, flt = current_user.get_id(), queue_filter()
    sees_all = can(current_user, "imaging.open_queue")
    return queue_table_csv(
        "imaging", queries, queries.QUEUE_TABLES,
        lambda table: functools.partial(queries.list_queue, table, viewer, sees_all, flt), HEADER, _row,
    )  # fmt: skip
