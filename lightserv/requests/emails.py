"""Email texts of the requests flows (requests.md §12). Each is queued in the outbox with a
de-duplication key; callers commit and dispatch."""

from __future__ import annotations

from flask import current_app

from lightserv.auth.queries import list_staff_emails
from lightserv.common.outbox import queue_email
from lightserv.common.timefmt import format_date

from .submission import NewRequest


def absolute(path: str) -> str:
    return current_app.config["SETTINGS"].public_base_url.rstrip("/") + path


def overview_url(owner: str, request_name: str) -> str:
    return absolute(f"/requests/{owner}/{request_name}")


def queue_submitted(req: NewRequest, clearing, submitted_at) -> list[int | None]:
    stamp = submitted_at.isoformat()
    key = (req.owner, req.request_name)
    lines = []
    for cb in clearing:
        names = ", ".join(req.samples[i].sample_name for i in cb.sample_indexes)
        antibodies = " / ".join(a for a in (cb.antibody1, cb.antibody2) if a) or "no antibodies"
        lines.append(f"- Clearing batch {cb.number}: {cb.protocol} ({antibodies}); samples: {names}")
    for s in req.samples:
        res = ", ".join(
            f"{r.image_resolution} ({', '.join(c.channel_name for c in r.requested_channels())})" for r in s.resolutions
        )
        lines.append(f"- Sample {s.sample_name}: imaging at {res}")
    body = (
        f"Your request {req.request_name} ({len(req.samples)} sample(s)) was received.\n\n"
        + "\n".join(lines)
        + f"\n\nFollow its status here: {overview_url(*key)}\n"
        + (
            "\nYou chose to clear the samples yourself: your batches are in the clearing queue.\n"
            if req.self_clearing
            else f"\nBefore handing off your samples, please read the instructions at {absolute('/pre-handoff')} and "
            "contact the clearing staff at least 2 business days before hand-off.\n"
        )
    )
    ids = [
        queue_email(
            "request_received",
            f"request.submitted:{req.owner}/{req.request_name}:{stamp}:requester",
            [req.correspondence_email],
            f"Request received: {req.request_name}",
            body,
            request_key=key,
        )
    ]
    if not req.self_clearing:
        staff = list_staff_emails("clearing_staff")
        batch_lines = []
        for cb in clearing:
            dates = [
                req.samples[i].expected_handoff_date for i in cb.sample_indexes if req.samples[i].expected_handoff_date
            ]
            earliest = format_date(min(dates)) if dates else "not given"
            antibodies = " / ".join(a for a in (cb.antibody1, cb.antibody2) if a) or "none"
            batch_lines.append(
                f"- Batch {cb.number}: {cb.protocol}; antibodies: {antibodies}; "
                f"{len(cb.sample_indexes)} sample(s); earliest expected hand-off: {earliest}"
            )
        staff_body = (
            f"{req.owner} submitted request {req.request_name} with {len(req.samples)} sample(s) to clear.\n\n"
            + "\n".join(batch_lines)
            + f"\n\nClearing queue: {absolute('/clearing/queue')}\n"
        )
        ids.append(
            queue_email(
                "new_clearing_request",
                f"request.submitted:{req.owner}/{req.request_name}:{stamp}:clearing",
                staff,
                f"New clearing request: {req.owner}/{req.request_name}",
                staff_body,
                request_key=key,
            )
        )
    return ids
