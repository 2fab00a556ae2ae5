"""The clearing queue (clearing.md §2): three tables, each sorted and paginated in SQL."""

from __future__ import annotations

from flask import render_template, request
from flask_login import current_user

from lightserv.common.pagination import PageRequest, parse_page_request
from lightserv.common.permissions import can
from schemas.enums import CLEARING_PROGRESS_LABELS

from .. import queries
from ..access import queue_route
from ..catalogue import list_protocols
from . import bp

TABLES = (
    ("in_progress", "Being cleared", "Continue clearing"),
    ("pending", "Ready to clear", "Open"),
    ("complete", "Cleared", "View clearing log"),
)


@bp.route("/queue")
@queue_route
def queue():
    viewer = current_user.get_id()
    sees_all = can(current_user, "clearing.open_queue")  # by role; otherwise a self-clearer: own batches only
    protocols = list_protocols()
    chosen_protocol = request.args.get("protocol", "")
    flt = queries.QueueFilter(
        only_mine=request.args.get("mine") == "1",
        protocol=chosen_protocol if chosen_protocol in {p["protocol"] for p in protocols} else "",
        owner=request.args.get("owner", "")[:32],
    )
    active = request.args.get("table", "")
    tables = []
    for progress, title, action_label in TABLES:
        default = queries.QUEUE_DEFAULT_SORT[progress]
        if progress == active:
            page_req = parse_page_request(queries.QUEUE_SORTS, default)
        else:
            page_req = PageRequest(page=1, per_page=50, sort=default, direction="desc")
        page = queries.list_queue(progress, viewer, sees_all, flt, page_req)
        tables.append(dict(progress=progress, title=title, action_label=action_label, page=page))
    return render_template(
        "clearing/queue.html",
        tables=tables,
        flt=flt,
        sees_all=sees_all,
        protocols=protocols,
        owners=queries.list_batch_owners(viewer, sees_all),
        progress_labels=CLEARING_PROGRESS_LABELS,
    )
