"""The processing queue (processing.md §2): six tables, each sorted and paginated in SQL. Staff see every
processing request; others see those of requests they may view."""

from __future__ import annotations

from flask import render_template, request
from flask_login import current_user

from lightserv.common.pagination import PageRequest, parse_page_request
from lightserv.common.permissions import STAFF_ROLES, login_required, roles_of
from lightserv.common.status import PROCESSING_PROGRESS_LABELS

from .. import queries
from . import bp


@bp.route("/queue")
@login_required
def queue():
    viewer = current_user.get_id()
    sees_all = bool(roles_of(current_user) & STAFF_ROLES)
    active = request.args.get("table", "")
    tables = []
    for name, title, action_label in queries.QUEUE_TABLES:
        default = queries.QUEUE_DEFAULT_SORT[name]
        if name == active:
            page_req = parse_page_request(queries.QUEUE_SORTS, default)
        else:
            page_req = PageRequest(page=1, per_page=50, sort=default, direction="desc")
        page = queries.list_queue(name, viewer, sees_all, page_req)
        if page.total or name == "ready":  # empty tables are hidden except "Ready to process"
            tables.append(dict(name=name, title=title, action_label=action_label, page=page))
    return render_template(
        "processing/queue.html", tables=tables, sees_all=sees_all, progress_labels=PROCESSING_PROGRESS_LABELS
    )
