"""CSV downloads of the request list and the sample list: the rows the page would show
for the same filters and sort, on every page, streamed (lightserv.common.csvexport)."""

from __future__ import annotations

import functools

from flask_login import current_user

from lightserv.common.csvexport import csv_response, pages
from lightserv.common.pagination import parse_page_request
from lightserv.common.permissions import STAFF_ROLES, requires, roles_of
from lightserv.common.status import IMAGING_PROGRESS_LABELS, PROCESSING_PROGRESS_LABELS, fraction
from schemas.enums import CLEARING_PROGRESS_LABELS

from .. import queries
from . import bp
from .lists import list_filter

REQUEST_HEADER = [
    "submitted_at_utc",
    "owner",
    "request_name",
    "description",
    "species",
    "archival",
    "testing",
    "samples",
    "cleared",
    "imaged",
    "processed",
    "status",
]
SAMPLE_HEADER = [
    "sample_name",
    "request_name",
    "owner",
    "archival",
    "species",
    "clearing_protocol",
    "clearer",
    "clearing_progress",
    "submitted_at_utc",
    "imaging_requests",
]


def _request_row(r: dict) -> list:
    return [
        r["submitted_at"],
        r["username"],
        r["request_name"],
        r["description"],
        r["species"],
        bool(r["is_archival"]),
        bool(r["testing"]),
        r["samples"],
        fraction(r["cleared"], r["samples"]),
        fraction(r["imaged"], r["imaging_total"]),
        fraction(r["processed"], r["processing_total"]),
        r["status"].label,
    ]


def imaging_summary(imaging: list[dict]) -> str:
    """Every imaging request of a sample with its processing requests, as one cell:
    `#1 1.3x, 4x: Complete (processing #1: Running; #2: Pending)`."""
    parts = []
    for i in imaging:
        text = f"#{i['imaging_request_number']} {', '.join(i['resolutions'])}: "
        text += IMAGING_PROGRESS_LABELS.get(i["imaging_progress"], i["imaging_progress"])
        processing = [
            f"#{p['processing_request_number']}: "
            + PROCESSING_PROGRESS_LABELS.get(p["processing_progress"], p["processing_progress"])
            for p in i["processing"]
        ]
        if processing:
            text += f" (processing {'; '.join(processing)})"
        parts.append(text)
    return " | ".join(parts)


def _sample_row(s: dict) -> list:
    return [
        s["sample_name"],
        s["request_name"],
        s["username"],
        bool(s["is_archival"]),
        s["species"],
        s.get("protocol_label") or "",
        s.get("clearer") or "",
        CLEARING_PROGRESS_LABELS.get(s.get("clearing_progress"), ""),
        s["submitted_at"],
        imaging_summary(s["imaging"]),
    ]


@bp.route("/requests/list.csv")
@requires("request.list")
def request_list_csv():
    viewer, roles = current_user.get_id(), roles_of(current_user)
    flt = list_filter(bool(roles & STAFF_ROLES), with_status=True)
    first = parse_page_request(queries.REQUEST_SORTS, "submitted_at")
    fetch = functools.partial(queries.list_requests, viewer, roles, flt=flt)
    chunks = ([_request_row(r) for r in rows] for rows in pages(lambda p: fetch(page=p), first))
    return csv_response("lightserv-requests.csv", REQUEST_HEADER, chunks)


@bp.route("/requests/samples.csv")
@requires("request.list")
def sample_list_csv():
    viewer, roles = current_user.get_id(), roles_of(current_user)
    flt = list_filter(bool(roles & STAFF_ROLES), with_status=False)
    first = parse_page_request({k: v[0] for k, v in queries.SAMPLE_SORTS.items()}, "request_name", "asc")
    fetch = functools.partial(queries.list_samples, viewer, roles, flt=flt)
    chunks = ([_sample_row(s) for s in rows] for rows in pages(lambda p: fetch(page=p), first))
    return csv_response("lightserv-samples.csv", SAMPLE_HEADER, chunks)
