"""The request list and the sample list.

Every query-string value is validated here and anything unknown falls back to its default, so a hostile
URL never causes a 500; sorting, filtering and paging happen in SQL (lightserv.requests.queries).
"""

from __future__ import annotations

import re

from flask import current_app, render_template, request, url_for
from flask_login import current_user
from werkzeug.routing import BuildError

from lightserv.common.pagination import parse_page_request
from lightserv.common.permissions import STAFF_ROLES, can, requires, roles_of
from lightserv.common.status import IMAGING_PROGRESS_LABELS, PROCESSING_PROGRESS_LABELS, STATUSES
from schemas.enums import CLEARING_PROGRESS_LABELS, IMAGING_REQUEST_DONE, SPECIES

from .. import queries
from . import bp

USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,31}$")
SEARCH_MAX = 100


#: pages of other areas linked from the lists and the overview, each under the endpoint names it may have
LINKED_PAGES = {
    "clearing_log": ("clearing.batch_log", "clearing.log"),
    "imaging_log": ("imaging.imaging_log", "imaging.log"),
    "processing_log": ("processing.processing_log", "processing.log"),
    "viewer_raw": ("viewer.setup_raw", "viewer.raw_setup"),
    "viewer": ("viewer.setup",),
}


def optional_url(endpoint: str, **values) -> str | None:
    """The URL of `endpoint` (or of the first existing endpoint of a LINKED_PAGES entry) when that page
    exists in this build (areas land one by one), else None."""
    for name in LINKED_PAGES.get(endpoint, (endpoint,)):
        if name in current_app.view_functions:
            try:
                return url_for(name, **values)
            except BuildError:
                return None
    return None


def list_filter(staff: bool, with_status: bool) -> queries.ListFilter:
    """The list filters from the query string; invalid values are ignored."""
    args = request.args
    status = args.get("status", "")
    species = args.get("species", "")
    owner = args.get("owner", "").strip().lower() if staff else ""
    testing = args.getlist("testing")  # a hidden "0" plus the checkbox's "1": the form always says
    return queries.ListFilter(
        status=status if with_status and status in STATUSES else "",
        species=species if species in SPECIES else "",
        owner=owner if USERNAME_RE.fullmatch(owner) else "",
        search=args.get("q", "").strip()[:SEARCH_MAX],
        include_testing=("1" in testing) if testing else staff,
        only_mine=staff and args.get("mine") == "1",
    )


def list_query(flt: queries.ListFilter, page_req) -> dict:
    """The validated query arguments of a list page, carried by its sort and page links."""
    query = {"sort": page_req.sort, "direction": page_req.direction, "testing": "1" if flt.include_testing else "0"}
    for name, value in (("q", flt.search), ("status", flt.status), ("species", flt.species), ("owner", flt.owner)):
        if value:
            query[name] = value
    if flt.only_mine:
        query["mine"] = "1"
    return query


def delete_refusal(relation: str | None, clearing_started: bool) -> str | None:
    """Why the current user may not delete a request (None when they may)."""
    if not can(current_user, "request.delete", relation):
        return "Only the owner of a request (or a facility admin) can delete it."
    if clearing_started:
        return "Clearing has already started for this request, so it can no longer be deleted."
    return None


def list_legend(noun: str, staff: bool, only_mine: bool, owners: set[str]) -> str:
    """The list's heading: staff see every request; others their own, those shared with them, or both."""
    me = current_user.get_id()
    if staff and not only_mine:
        return f"All facility {noun}"
    if owners and me not in owners:
        return "Shared with you"
    return f"Your {noun} and {noun} shared with you" if owners - {me} else f"Your {noun}"


def request_actions(row: dict, deletable: bool) -> dict:
    """The action links of one request (the "Actions" column of the lists), from the row's relation and counts. Only a
    user who may delete (the owner, an admin) hears why a request cannot be deleted; others see no delete."""
    key = {"username": row["username"], "request_name": row["request_name"]}
    relation = row.get("relation")
    add_imaging = None
    if not row.get("is_archival") and can(current_user, "request.add_imaging", relation):
        add_imaging = optional_url("imaging.new_imaging_request", **key)
    refusal = delete_refusal(relation, row["clearing_started"] > 0)
    return {
        "view": url_for("requests.overview", **key),
        "add_imaging": add_imaging,
        "can_delete": refusal is None and deletable,
        "delete_refusal": refusal,
        "may_delete": can(current_user, "request.delete", relation),
    }


def has_template(name: str) -> bool:
    """Whether a partial written in another area exists yet."""
    try:
        current_app.jinja_env.get_template(name)
    except Exception:  # noqa: BLE001 - TemplateNotFound, or a syntax error in someone else's partial
        return False
    return True


def delete_available() -> bool:
    """Whether the delete endpoint and its dialog (another area) have landed."""
    return "requests.delete_request" in current_app.view_functions and has_template("requests/_delete_dialog.html")


def safe_external(url: str | None) -> str | None:
    """A stored external link (clearing spreadsheet) only when it is http(s), never `javascript:`."""
    return url if url and url.lower().startswith(("https://", "http://")) else None


def attach_sample_links(samples: list[dict]) -> None:
    """The clearing log, imaging log, processing log and viewer links of sample rows."""
    for s in samples:
        key = {"username": s["username"], "request_name": s["request_name"]}
        s["spreadsheet_url"] = None
        s["clearing_log_url"] = None
        if s.get("is_archival") or s.get("has_step_form") == 0:
            s["spreadsheet_url"] = safe_external(s.get("link_to_clearing_spreadsheet"))
        elif s.get("clearing_progress") == "complete":
            s["clearing_log_url"] = optional_url("clearing_log", **key, number=s["clearing_batch_number"])
        skey = dict(key, sample_name=s["sample_name"])
        for i in s["imaging"]:
            ikey = dict(skey, imaging_request_number=i["imaging_request_number"])
            done = i["imaging_progress"] in IMAGING_REQUEST_DONE and not s.get("is_archival")
            i["log_url"] = optional_url("imaging_log", **ikey) if done else None
            i["raw_view_url"] = optional_url("viewer_raw", **ikey) if i["raw_ready"] else None
            for p in i["processing"]:
                pkey = dict(ikey, processing_request_number=p["processing_request_number"])
                p["log_url"] = optional_url("processing_log", **pkey)
                p["view_url"] = optional_url("viewer", **pkey) if p["ready"] else None


@bp.route("/requests/")
@requires("request.list")
def request_list():
    staff = bool(roles_of(current_user) & STAFF_ROLES)
    flt = list_filter(staff, with_status=True)
    page_req = parse_page_request(queries.REQUEST_SORTS, "submitted_at")
    page = queries.list_requests(current_user.get_id(), roles_of(current_user), page_req, flt)
    deletable = delete_available()
    for row in page.items:
        row["actions"] = request_actions(row, deletable)
    return render_template(
        "requests/list.html",
        page=page,
        flt=flt,
        query=list_query(flt, page_req),
        staff=staff,
        legend=list_legend("requests", staff, flt.only_mine, {row["username"] for row in page.items}),
        statuses=STATUSES,
        species=SPECIES,
        new_request_url=optional_url("requests.new_request"),
    )


@bp.route("/requests/samples")
@requires("request.list")
def sample_list():
    staff = bool(roles_of(current_user) & STAFF_ROLES)
    flt = list_filter(staff, with_status=False)
    page_req = parse_page_request({k: v[0] for k, v in queries.SAMPLE_SORTS.items()}, "request_name", "asc")
    page = queries.list_samples(current_user.get_id(), roles_of(current_user), page_req, flt)
    attach_sample_links(page.items)
    return render_template(
        "requests/samples.html",
        page=page,
        flt=flt,
        query=list_query(flt, page_req),
        staff=staff,
        legend=list_legend("samples", staff, flt.only_mine, {row["username"] for row in page.items}),
        species=SPECIES,
        clearing_labels=CLEARING_PROGRESS_LABELS,
        imaging_labels=IMAGING_PROGRESS_LABELS,
        processing_labels=PROCESSING_PROGRESS_LABELS,
    )
