"""Writes of an imaging batch: claim, start, release, assign (shared with clearing, see `lightserv.workflow`).

Imaging's own rules: a batch starts only once its clearing batch is complete, and starting it names the
imager on every member imaging request that has none. Guards raise `ImagingError` with the HTTP status
the view answers with (403: not this actor; 409: not in this state; 400: invalid input).
"""

from __future__ import annotations

from lightserv.common.errors import DomainError
from lightserv.workflow import services as workflow
from lightserv.workflow.queries import lock_rows
from lightserv.workflow.stage import Stage

from . import emails, queries

CLEARING_NOT_COMPLETE = "Clearing of these samples is not complete yet."
BATCH_KEY = ("username", "request_name", "clearing_batch_number", "imaging_request_number", "imaging_batch_number")


class ImagingError(DomainError):
    """An imaging action was refused."""


def describe_batch(key: dict) -> str:
    """The batch in event summaries: "ana/brains clearing batch 1, imaging request 1, imaging batch 1"."""
    return (
        f"{key['username']}/{key['request_name']} clearing batch {key['clearing_batch_number']}, "
        f"imaging request {key['imaging_request_number']}, imaging batch {key['imaging_batch_number']}"
    )


def _clearing_complete(conn, ls, key: dict) -> None:
    """Refuse the start until the clearing batch is complete (read under a shared lock)."""
    rows = lock_rows(conn, ls.Request.ClearingBatch, key, BATCH_KEY[:3], columns="clearing_progress", share=True)
    if not rows or rows[0]["clearing_progress"] != "complete":
        raise ImagingError(CLEARING_NOT_COMPLETE)


def _name_imager(ls, key: dict, changes: dict, imager: str) -> dict:
    """Every member imaging request without an imager gets the batch's; the start event names it."""
    for member in queries.list_member_keys(key):
        if not (ls.Request.ImagingRequest & member).fetch1("imager"):
            ls.Request.ImagingRequest.update1({**member, "imager": imager})
    return {"imaging_progress": "in_progress", "imager": imager, "started_at": changes["started_at"]}


IMAGING = Stage(
    name="imaging", table=lambda ls: ls.Request.ImagingBatch, key_attrs=BATCH_KEY,
    progress="imaging_progress", holder="imager", staff_role="imaging_staff", entity="imaging_batch",
    release_action="imaging.released", error=ImagingError, label=describe_batch,
    candidates=lambda req: queries.list_imager_candidates(req["username"], bool(req["self_imaging"])),
    queue_assigned=lambda key, _batch, assignee, when: emails.queue_batch_assigned(key, assignee, when),
    gone="This imaging batch no longer exists.", held_by="This batch is imaged by {holder}.",
    no_holder="This batch has no imager to release.", staff_only="Only imaging staff can start this batch.",
    choose_staff="Choose an imaging staff member.", may_start=_clearing_complete, started=_name_imager,
)  # fmt: skip
_locked_batch = IMAGING.locked_batch
event = IMAGING.event

claim_batch, start_batch, release_batch, assign_batch = workflow.services_of(IMAGING)
