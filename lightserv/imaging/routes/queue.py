"""The imaging queue (imaging.md §2): four tables, each sorted and paginated in SQL."""

from __future__ import annotations

from flask import render_template, request
from flask_login import current_user

from lightserv.common.pagination import PageRequest, parse_page_request
from lightserv.common.permissions import can
from schemas.enums import CLEARING_PROGRESS_LABELS

from .. import queries
from ..access import queue_route
from . import bp

TABLES = (
    ("in_progress", "Being imaged", "Continue imaging"),
    ("ready", "Ready to image", "Open"),
    ("waiting", "Waiting for clearing", ""),
    ("complete", "Imaged", "View"),
)


@bp.route("/queue")
@queue_route
def queue():
    viewer = current_user.get_id()
    sees_all = can(current_user, "imaging.open_queue")  # by role; otherwise a self-imager: own batches only
    microscope = request.args.get("microscope", "")
    flt = queries.QueueFilter(
        only_mine=request.args.get("mine") == "1",
        microscope=microscope if microscope in queries.MICROSCOPES else "",
        owner=request.args.get("owner", "")[:32],
    )
    active = request.args.get("table", "")
    tables = []
    for name, title, action_label in TABLES:
        default = queries.QUEUE_DEFAULT_SORT[name]
        if name == active:
            page_req = parse_page_request(queries.QUEUE_SORTS, default)
        else:
            page_req = PageRequest(page=1, per_page=50, sort=default, direction="desc")
        page = queries.list_queue(name, viewer, sees_all, flt, page_req)
        tables.append(dict(name=name, title=title, action_label=action_label, page=page))
    return render_template(
        "imaging/queue.html",
        tables=tables,
        flt=flt,
        sees_all=sees_all,
        owners=queries.list_batch_owners(viewer, sees_all),
        clearing_labels=CLEARING_PROGRESS_LABELS,
    )
