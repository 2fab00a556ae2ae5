"""CSV of one processing-queue table (issue 10): the processing requests of that table that the user may
see, in the table's sort order, every page, streamed (lightserv.common.csvexport)."""

from __future__ import annotations

import functools

from flask_login import current_user

from lightserv.common.csvexport import queue_table_csv
from lightserv.common.permissions import STAFF_ROLES, login_required, roles_of
from lightserv.common.status import PROCESSING_PROGRESS_LABELS

from .. import queries
from . import bp

TABLE_NAMES = tuple(name for name, _title, _action in queries.QUEUE_TABLES)
HEADER = [
    "submitted_at_utc",
    "request_name",
    "sample_name",
    "owner",
    "imaging_request",
    "processing_request",
    "microscope",
    "resolutions",
    "progress",
    "current_stage",
    "failure_summary",
    "processor",
    "species",
    "completed_at_utc",
]


def _row(r: dict) -> list:
    return [
        r["submitted_at"],
        r["request_name"],
        r["sample_name"],
        r["username"],
        r["imaging_request_number"],
        r["processing_request_number"],
        r["microscopes"] or "",
        r["resolutions"] or "",
        PROCESSING_PROGRESS_LABELS.get(r["processing_progress"], r["processing_progress"]),
        r.get("current_stage", ""),
        r["failure_summary"] if r["processing_progress"] == "failed" else "",
        r["processor"] or "",
        r["species"],
        r["completed_at"],
    ]


@bp.route("/queue.csv")
@login_required
def queue_csv():
    """The same rule as the queue page: staff get every processing request, others those of the requests
    they may view."""
    viewer = current_user.get_id()
    sees_all = bool(roles_of(current_user) & STAFF_ROLES)
    return queue_table_csv(
        "processing", queries, TABLE_NAMES,
        lambda table: functools.partial(queries.list_queue, table, viewer, sees_all), HEADER, _row,
    )  # fmt: skip
