"""Researcher-facing pages. Issue 4 adds the new-request form, overview and the rest."""

from __future__ import annotations

from flask import redirect, render_template, url_for
from flask_login import current_user

from lightserv.common.pagination import parse_page_request
from lightserv.common.permissions import public, requires, roles_of

from .. import queries
from . import bp


@bp.route("/")
@public
def home():
    return redirect(url_for("requests.request_list"))


@bp.route("/requests/")
@requires("request.list")
def request_list():
    page_req = parse_page_request(queries.REQUEST_SORTS, "submitted_at")
    page = queries.list_requests(current_user.get_id(), roles_of(current_user), page_req)
    return render_template("requests/list.html", page=page)


@bp.route("/about")
@public
def about():
    return render_template("requests/about.html")
