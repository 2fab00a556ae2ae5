"""Email texts of the clearing flows. Each is queued in the outbox with a
de-duplication key; callers commit and then `dispatch`.

Completion keys carry no timestamp, so completing a reopened batch again never emails a second time.
Staff recipients come from role grants and stored emails.
"""

from __future__ import annotations

import datetime as dt

from lightserv.auth.queries import get_user_email, list_staff_emails
from lightserv.common.timefmt import format_date
from lightserv.common.words import plural
from lightserv.notifications.outbox import queue_email
from lightserv.requests.emails import absolute, overview_url
from lightserv.requests.recipients import requester_addresses

from . import queries
from .catalogue import ProtocolDef, load_protocol

__all__ = ["queue_assigned", "queue_completed", "queue_awaiting_clearing"]


def form_url(key: dict) -> str:
    return absolute(f"/clearing/batch/{key['username']}/{key['request_name']}/{key['clearing_batch_number']}")


def _samples(key: dict) -> list[str]:
    return [s["sample_name"] for s in queries.list_batch_samples(key)]


def _antibodies(batch: dict) -> str:
    parts = []
    for label, name, lot in (
        ("Primary antibody", batch["antibody1"], batch["antibody1_lot"]),
        ("Secondary antibody", batch["antibody2"], batch["antibody2_lot"]),
    ):
        if name:
            parts.append(f"{label}: {name}" + (f" (lot {lot})" if lot else ""))
    return "\n".join(parts) or "Antibodies: none"


def queue_assigned(key: dict, batch: dict, assignee: str, when: dt.datetime) -> int | None:
    proto = load_protocol(batch["protocol"])
    owner, name, number = key["username"], key["request_name"], key["clearing_batch_number"]
    body = (
        f"Clearing batch {number} of {owner}/{name} was assigned to you.\n\n"
        f"Protocol: {proto.label}\n"
        f"Samples ({batch['number_in_batch']}): {', '.join(_samples(key))}\n\n"
        f"Clearing entry form: {form_url(key)}\n"
    )
    return queue_email(
        "clearing_assigned",
        f"clearing.assigned:{owner}/{name}/{number}:{assignee}:{when.isoformat()}",
        [get_user_email(assignee)],
        f"Clearing batch assigned to you: {owner}/{name} batch {number}",
        body,
        request_key=(owner, name),
    )


def _imaging_lines(batches: list[dict]) -> str:
    lines = []
    for b in batches:
        signature = b["imaging_signature"] or {}
        resolutions = "; ".join(f"{res} ({', '.join(str(c) for c in channels)})" for res, channels in signature.items())
        lines.append(
            f"- Imaging request {b['imaging_request_number']}, imaging batch {b['imaging_batch_number']}: "
            f"{'sample' if len(b['samples']) == 1 else 'samples'} {', '.join(b['samples'])}; "
            f"resolutions {resolutions or 'none'}"
        )
    return "\n".join(lines)


def queue_completed(key: dict, batch: dict, proto: ProtocolDef) -> list[int | None]:
    """Requester; imaging staff for pending imaging batches without an imager; the self-imaging owner
    for pending batches they image. Every imaging batch of the cleared samples counts, of every imaging
    request number."""
    owner, name, number = key["username"], key["request_name"], key["clearing_batch_number"]
    stem = f"clearing.completed:{owner}/{name}/{number}"
    imaging = [b for b in queries.list_imaging_batches(key) if b["imaging_progress"] == "pending"]
    unassigned = [b for b in imaging if not b["imager"]]
    self_imaged = [b for b in imaging if b["imager"] == owner]
    samples = _samples(key)
    next_step = (
        "You chose to image these samples yourself; they are ready in the imaging queue."
        if self_imaged
        else "The facility will now image your samples."
    )
    body = (
        f"Clearing of batch {number} of your request {name} is complete.\n\n"
        f"Protocol: {proto.label}\n{_antibodies(batch)}\n"
        f"Samples ({len(samples)}): {', '.join(samples)}\n\n"
        f"{next_step}\n\nFollow the request here: {overview_url(owner, name)}\n"
    )
    ids = [
        queue_email(
            "clearing_completed",
            f"{stem}:requester",
            requester_addresses(owner, name),
            f"Clearing complete: {name} batch {number}",
            body,
            request_key=(owner, name),
        )
    ]
    imaging_queue = absolute("/imaging/queue")
    if unassigned:
        ids.append(
            queue_email(
                "samples_ready_for_imaging",
                f"{stem}:imaging_staff",
                list_staff_emails("imaging_staff"),
                f"Samples ready for imaging: {owner}/{name}",
                f"Clearing batch {number} of {owner}/{name} ({proto.label}) is complete. "
                f"These imaging batches have no imager yet:\n\n{_imaging_lines(unassigned)}\n\n"
                f"Imaging queue: {imaging_queue}\n",
                request_key=(owner, name),
            )
        )
    if self_imaged:
        ids.append(
            queue_email(
                "samples_ready_for_self_imaging",
                f"{stem}:self_imaging:{owner}",
                [get_user_email(owner)],
                "Your samples are ready for imaging",
                f"Clearing batch {number} of your request {name} is complete. You image these batches "
                f"yourself:\n\n{_imaging_lines(self_imaged)}\n\nImaging queue: {imaging_queue}\n",
                request_key=(owner, name),
            )
        )
    return ids


def queue_awaiting_clearing(today: dt.date, batches: list[dict]) -> int | None:
    """The daily reminder to clearing staff (one per day at most)."""
    lines = [
        f"- {b['username']}/{b['request_name']} batch {b['clearing_batch_number']}: {b['protocol_label']}; "
        f"{plural(b['number_in_batch'], 'sample')}; expected hand-off {format_date(b['earliest_handoff'])}; "
        f"clearer {b['clearer'] or 'not assigned'}"
        for b in batches
    ]
    return queue_email(
        "samples_awaiting_clearing",
        f"clearing.awaiting:{today.isoformat()}",
        list_staff_emails("clearing_staff"),
        "Samples awaiting clearing",
        "These clearing batches were expected more than 7 days ago and have not been started:\n\n"
        + "\n".join(lines)
        + f"\n\nClearing queue: {absolute('/clearing/queue')}\n",
    )
