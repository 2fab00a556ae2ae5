"""The request overview: summary, sharing, clearing batches, one card per sample (its step, what happens next,
its data, every imaging and processing request ordered for it), cell counts, saved views, activity in
sentences and actions, for everyone who may view the request.

The page runs a fixed number of queries whatever the number of samples (lightserv.requests.queries
.overview.get_overview fetches each part table once for the request; the cards add two). Links to pages of other
areas appear as those pages land (`optional_url`)."""

from __future__ import annotations

from flask import g, render_template, request
from flask_login import current_user

from lightserv.common.activity import describe
from lightserv.common.permissions import can, requires_request
from lightserv.common.status import fraction
from schemas.enums import ATLAS_LABELS, CLEARING_PROGRESS_LABELS, RETENTION_PREFERENCE_LABELS

from ..cell_counts import request_cell_counts
from ..overview_cards import CLEARING_COLOURS, build_cards
from ..queries import overview as overview_queries
from . import bp
from .lists import attach_sample_links, delete_available, delete_refusal, has_template, optional_url, safe_external

ACTIVITY_PER_PAGE = 20


def _activity_page() -> int:
    try:
        page = int(request.args.get("activity_page", "1"))
    except ValueError:
        return 1
    return min(max(page, 1), 1_000_000)


def _links(req: dict, data: dict) -> None:
    """Attach the URL of every log and viewer page to the rows that show them."""
    for batch in data["batches"]:
        batch["log_url"] = optional_url(
            "clearing_log",
            username=req["username"],
            request_name=req["request_name"],
            number=batch["clearing_batch_number"],
        )
        batch["spreadsheet_url"] = safe_external(batch.get("link_to_clearing_spreadsheet"))
    for sample in data["samples"]:
        batch = sample.get("batch") or {}
        sample.update(
            is_archival=req["is_archival"],
            clearing_batch_number=batch.get("clearing_batch_number"),
            clearing_progress=batch.get("clearing_progress"),
            has_step_form=batch.get("has_step_form"),
            link_to_clearing_spreadsheet=batch.get("link_to_clearing_spreadsheet"),
        )
    attach_sample_links(data["samples"])


def _actions(req: dict, relation: str | None, data: dict) -> dict:
    key = {"username": req["username"], "request_name": req["request_name"]}
    add_imaging = None
    if not req["is_archival"] and can(current_user, "request.add_imaging", relation):
        add_imaging = optional_url("imaging.new_imaging_request", **key)
    add_processing = []
    if can(current_user, "request.add_processing", relation):
        numbers = sorted(
            {
                i["imaging_request_number"]
                for s in data["samples"]
                for i in s["imaging"]
                if i["imaging_progress"] == "complete"
            }
        )
        for n in numbers:
            url = optional_url("processing.new_processing_request", **key, imaging_request_number=n)
            if url:
                add_processing.append((n, url))
    refusal = delete_refusal(relation, data["counts"]["clearing_started"] > 0)
    return {
        "add_imaging": add_imaging,
        "add_processing": add_processing,
        "feedback": optional_url("requests.feedback", **key)
        if can(current_user, "request.feedback", relation)
        else None,
        "can_delete": refusal is None and delete_available(),
        "delete_refusal": refusal,
        "may_delete": can(current_user, "request.delete", relation),
        "can_manage_access": can(current_user, "request.manage_access", relation),
    }


@bp.route("/requests/<username>/<request_name>")
@requires_request("request.view")
def overview(req: dict):
    relation = g.get("request_relation")
    data = overview_queries.get_overview(req["username"], req["request_name"])
    _links(req, data)
    activity = overview_queries.list_request_events(
        req["username"], req["request_name"], _activity_page(), ACTIVITY_PER_PAGE
    )
    counts = data["counts"]
    return render_template(
        "requests/overview.html",
        req=req,
        relation=relation,
        data=data,
        cards=build_cards(req, data["samples"]),
        status=data["status"],
        fractions={
            "cleared": fraction(counts["cleared"], counts["samples"]),
            "imaged": fraction(counts["imaged"], counts["imaging_total"]),
            "processed": fraction(counts["processed"], counts["processing_total"]),
        },
        actions=_actions(req, relation, data),
        activity=activity,
        describe=describe,
        has_sharing_partial=has_template("requests/_sharing.html"),
        retention_labels=RETENTION_PREFERENCE_LABELS,
        clearing_labels=CLEARING_PROGRESS_LABELS,
        clearing_status=CLEARING_COLOURS,
        atlas_labels=ATLAS_LABELS,
        cell_counts=request_cell_counts(req["username"], req["request_name"]),
    )
