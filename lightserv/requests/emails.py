"""Email texts of the requests flows. Each is queued in the outbox with a
de-duplication key; callers commit and dispatch."""

from __future__ import annotations

from flask import current_app

from lightserv.auth.queries import list_staff_emails
from lightserv.common.timefmt import format_date
from lightserv.common.urls import absolute
from lightserv.common.words import plural
from lightserv.notifications.outbox import queue_email
from schemas.enums import ATLAS_LABELS

from .queries.additional import list_complete_clearing_batches
from .queries.protocols import list_protocols
from .submission import NewRequest


def overview_url(owner: str, request_name: str) -> str:
    return absolute(f"/requests/{owner}/{request_name}")


def queue_submitted(req: NewRequest, clearing, submitted_at) -> list[int | None]:
    stamp = submitted_at.isoformat()
    key = (req.owner, req.request_name)
    labels = {p["protocol"]: p["label"] for p in list_protocols()}
    lines = []
    for cb in clearing:
        names = ", ".join(req.samples[i].sample_name for i in cb.sample_indexes)
        antibodies = "antibodies: " + (" / ".join(a for a in (cb.antibody1, cb.antibody2) if a) or "none")
        protocol = labels.get(cb.protocol, cb.protocol)
        lines.append(f"- Clearing batch {cb.number}: {protocol}; {antibodies}; samples: {names}")
    for s in req.samples:
        res = ", ".join(
            f"{r.image_resolution} ({', '.join(c.channel_name + ' nm' for c in r.requested_channels())})"
            for r in s.resolutions
        )
        lines.append(f"- Sample {s.sample_name}: imaging at {res}")
    body = (
        f"Your request {req.request_name} ({plural(len(req.samples), 'sample')}) was received.\n\n"
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
                f"- Batch {cb.number}: {labels.get(cb.protocol, cb.protocol)}; antibodies: {antibodies}; "
                f"{plural(len(cb.sample_indexes), 'sample')}; earliest expected hand-off: {earliest}"
            )
        staff_body = (
            f"{req.owner} submitted request {req.request_name} with {plural(len(req.samples), 'sample')} to clear.\n\n"
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


def queue_request_deleted(snapshot: dict, actor: str) -> list[int | None]:
    """The "Request deleted" email: to the clearing staff when any batch had no clearer, and the
    assigned clearer of every batch that had one."""
    from lightserv.db import get_schemas

    req = snapshot["request"]
    owner, name = req["username"], req["request_name"]
    batches = snapshot["clearing_batches"]
    clearers = sorted({b["clearer"] for b in batches if b["clearer"]})
    recipients = []
    if clearers:
        users = get_schemas().lightsheet.User & [{"username": c} for c in clearers]
        recipients += [u["email"] for u in users.to_dicts() if u["email"]]
    if any(not b["clearer"] for b in batches):
        recipients += list_staff_emails("clearing_staff")
    members: dict[int, list[str]] = {}
    for m in snapshot["clearing_batch_samples"]:
        members.setdefault(m["clearing_batch_number"], []).append(m["sample_name"])
    labels = {p["protocol"]: p["label"] for p in list_protocols()}
    lines = [
        f"- Clearing batch {b['clearing_batch_number']}: {labels.get(b['protocol'], b['protocol'])}; "
        f"{plural(b['number_in_batch'], 'sample')}: {', '.join(sorted(members.get(b['clearing_batch_number'], [])))}; "
        f"clearer: {b['clearer'] or 'not assigned'}"
        for b in batches
    ]
    body = (
        f"Request {owner}/{name} was deleted by {actor} before clearing started.\n\n"
        "Its clearing batches were removed from the clearing queue:\n" + "\n".join(lines) + "\n\n"
        "If the samples were already handed off, please return them or contact the owner.\n"
        f"Clearing queue: {absolute('/clearing/queue')}\n"
    )
    return [
        queue_email(
            "request_deleted",
            f"request.deleted:{owner}/{name}:{req['submitted_at'].isoformat()}",
            recipients,
            f"Request deleted: {owner}/{name}",
            body,
            request_key=(owner, name),
        )
    ]


def queue_request_folder_kept(owner: str, request_name: str, submitted_stamp: str, files: list[str]) -> int | None:
    """Admin alert: a deleted request's folder still held files, so it was left in place."""
    settings = current_app.config["SETTINGS"]
    folder = f"{str(settings.data_root).rstrip('/')}/{owner}/{request_name}"
    listing = "\n".join(f"- {f}" for f in files)
    return queue_email(
        "request_folder_kept",
        f"request.folder_kept:{owner}/{request_name}:{submitted_stamp}",
        list_staff_emails("facility_admin"),
        f"Request folder not removed: {owner}/{request_name}",
        f"Request {owner}/{request_name} was deleted, but its folder still contains files, so it was left in "
        f"place:\n\n{folder}\n\nFiles found (at most 20 shown):\n{listing}\n\n"
        "Please check the files and remove the folder by hand when they are no longer needed.\n",
        request_key=(owner, request_name),
    )


def queue_data_access_needed(username: str, where: str) -> int | None:
    """Admins and IT, once per user and group: the owner cannot read their data on the cluster yet (`where`
    says why, e.g. "is not in the group lightsheet")."""
    settings = current_app.config["SETTINGS"]
    recipients = list_staff_emails("facility_admin") + ([settings.it_help_email] if settings.it_help_email else [])
    return queue_email(
        "data_access_needed",
        f"data-group:{username}:{settings.data_group}",
        recipients,
        f"Data access needed for {username}",
        f"{username} submitted a light-sheet request but {where}. Please add {username} to the Unix group "
        f"{settings.data_group} so they can read their data under {settings.data_root_display or settings.data_root}.",
    )


def queue_access_granted(req: dict, grantee: str, level: str, granted_at) -> int | None:
    """The "Access granted" email: to the grantee, with the level and a link."""
    from lightserv.db import get_schemas

    owner, name = req["username"], req["request_name"]
    users = (get_schemas().lightsheet.User & {"username": grantee}).to_dicts()
    address = users[0]["email"] if users else ""
    what = (
        "see the request, its samples, logs and data (read-only)"
        if level == "auditor"
        else "see the request, its samples, logs and data, request additional imaging and processing, and give feedback"
    )
    return queue_email(
        "access_granted",
        f"request.access_changed:{owner}/{name}:{grantee}:added:{granted_at.isoformat()}",
        [address],
        f"You have access to {owner}/{name}",
        f"{owner} shared the request {name} with you as {level}: you can {what}.\n\n"
        f"Open the request here: {overview_url(owner, name)}\n",
        request_key=(owner, name),
    )


def queue_additional_processing(req: dict, imaging_request_number: int, created: list[dict], dedupe: str) -> list:
    """The "Additional processing submitted" email: to the requester (link to the overview) and the
    processing staff (link to the processing queue). `created`: [{sample_name, processing_request_number,
    resolutions: [{image_resolution, ventral_up, atlas_name, has_registration}]}]."""
    from .recipients import requester_addresses

    owner, name = req["username"], req["request_name"]
    lines = []
    for c in created:
        parts = []
        for r in c["resolutions"]:
            label = r["image_resolution"] + (" ventral up" if r["ventral_up"] else "")
            atlas = ATLAS_LABELS.get(r["atlas_name"], r["atlas_name"])
            parts.append(f"{label} (atlas: {atlas})" if r["has_registration"] else label)
        lines.append(
            f"- {c['sample_name']}: processing request {c['processing_request_number']} of imaging request "
            f"{imaging_request_number}: {', '.join(parts)}"
        )
    summary = (
        f"Additional processing was requested for request {owner}/{name} (imaging request "
        f"{imaging_request_number}):\n\n" + "\n".join(lines) + "\n\n"
    )
    subject = f"Additional processing request: {owner}/{name}"
    key = (owner, name)
    return [
        queue_email(
            "additional_processing_requester",
            f"processing.requested:{owner}/{name}:{dedupe}:requester",
            requester_addresses(owner, name),
            subject,
            summary + f"Follow its status here: {overview_url(owner, name)}\n",
            request_key=key,
        ),
        queue_email(
            "additional_processing_staff",
            f"processing.requested:{owner}/{name}:{dedupe}:staff",
            list_staff_emails("processing_staff"),
            subject,
            summary + f"Processing queue: {absolute('/processing/queue')}\n",
            request_key=key,
        ),
    ]


def queue_additional_imaging(req: dict, chosen, number: int, self_imaging: bool, batch_of: dict) -> list[int | None]:
    """The requester (link to the overview) and, unless self-imaging, the imaging staff with each sample's
    clearing state (link to the imaging queue)."""
    from .recipients import requester_addresses

    owner, name = req["username"], req["request_name"]
    key = (owner, name)
    lines = [f"- {s.sample_name}: {', '.join(r.image_resolution for r in s.resolutions)}" for s in chosen]
    ids = [
        queue_email(
            "additional_imaging_received",
            f"imaging.requested:{owner}/{name}:{number}:requester",
            requester_addresses(owner, name),
            f"Additional imaging request received: {name}",
            f"Additional imaging request {number} for request {name} was received.\n\n"
            + "\n".join(lines)
            + f"\n\nFollow its status here: {overview_url(owner, name)}\n",
            request_key=key,
        )
    ]
    if not self_imaging:
        done = list_complete_clearing_batches(owner, name)
        staff_lines = [
            f"- {s.sample_name}: {', '.join(r.image_resolution for r in s.resolutions)}; clearing "
            f"{'complete' if batch_of[s.sample_name] in done else 'not complete yet'}"
            for s in chosen
        ]
        ids.append(
            queue_email(
                "new_imaging_request",
                f"imaging.requested:{owner}/{name}:{number}:staff",
                list_staff_emails("imaging_staff"),
                f"New imaging request: {owner}/{name}",
                f"{owner} asked for additional imaging (imaging request {number}) of request {name}.\n\n"
                + "\n".join(staff_lines)
                + f"\n\nImaging queue: {absolute('/imaging/queue')}\n",
                request_key=key,
            )
        )
    return ids
