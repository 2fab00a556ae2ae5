"""CSV of one clearing-queue table (issue 10): the batches of that table for the page's filters, in the
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
from ..catalogue import list_protocols
from . import bp

HEADER = [
    "progress",
    "submitted_at_utc",
    "expected_handoff",
    "protocol",
    "primary_antibody",
    "secondary_antibody",
    "request_name",
    "owner",
    "clearing_batch",
    "clearer",
    "species",
    "samples",
    "completed_at_utc",
]


def queue_filter() -> queries.QueueFilter:
    """The queue page's filters (the same parsing as `queue.queue`)."""
    chosen_protocol = request.args.get("protocol", "")
    return queries.QueueFilter(
        only_mine=request.args.get("mine") == "1",
        protocol=chosen_protocol if chosen_protocol in {p["protocol"] for p in list_protocols()} else "",
        owner=request.args.get("owner", "")[:32],
    )


def _row(r: dict) -> list:
    return [
        CLEARING_PROGRESS_LABELS[r["clearing_progress"]],
        r["submitted_at"],
        r["earliest_handoff"],
        r["protocol_label"],
        r["antibody1"],
        r["antibody2"],
        r["request_name"],
        r["username"],
        r["clearing_batch_number"],
        r["clearer"] or "",
        r["species"],
        r["number_in_batch"],
        r["completed_at"],
    ]


@bp.route("/queue.csv")
@queue_route
def queue_csv():
    viewer, flt = current_user.get_id(), queue_filter()
    sees_all = can(current_user, "clearing.open_queue")
    return queue_table_csv(
        "clearing", queries, queries.QUEUE_TABLES,
        lambda table: functools.partial(queries.list_queue, table, viewer, sees_all, flt), HEADER, _row,
    )  # fmt: skip
