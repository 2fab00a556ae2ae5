"""Email texts of the imaging flows."""

from __future__ import annotations

from lightserv.auth.queries import get_user_email, list_staff_emails
from lightserv.common.words import plural
from lightserv.db import get_schemas
from lightserv.notifications.outbox import queue_email
from lightserv.requests.emails import absolute, overview_url
from lightserv.requests.recipients import requester_addresses

# --- imaging batch completed ----------------------------------------------------------


def queue_batch_completed(key: dict) -> list[int | None]:
    """Requester: per sample the raw-data folders or "No images taken"; processing staff when some sample
    has a pending processing request. Keys carry no timestamp: completing again never emails twice."""
    from flask import current_app

    from lib.naming import rawdata_resolution_dir

    from . import queries

    settings = current_app.config["SETTINGS"]
    root = (settings.data_root_display or str(settings.data_root)).rstrip("/")
    owner, name = key["username"], key["request_name"]
    number = key["imaging_request_number"]
    stem = (
        f"imaging.batch_completed:{owner}/{name}/{key['clearing_batch_number']}/{number}/{key['imaging_batch_number']}"
    )
    samples = queries.list_batch_samples(key)
    channels = queries.list_batch_channels(key)
    lines = []
    for s in samples:
        lines.append(f"Sample {s['sample_name']}:")
        if s["imaging_progress"] == "skipped":
            lines.append(f"  No images taken{': ' + s['skip_reason'] if s['skip_reason'] else ''}")
            continue
        for c in (c for c in channels if c["sample_name"] == s["sample_name"]):
            folder = rawdata_resolution_dir(
                owner, name, s["sample_name"], number, c["image_resolution"], bool(c["ventral_up"])
            )
            vu = " (ventral up)" if c["ventral_up"] else ""
            where = f"{root}/{folder}/{c['rawdata_subfolder'] or ''}"
            lines.append(f"  {c['image_resolution']} channel {c['channel_name']}{vu}: {where}")
        log_path = f"/imaging/log/{owner}/{name}/{s['sample_name']}/{number}"
        lines.append(f"  Imaging log: {absolute(log_path)}")
    body = (
        f"Imaging of your request {name} (imaging request {number}) is complete.\n\n"
        + "\n".join(lines)
        + f"\n\nRequest overview: {overview_url(owner, name)}\n"
        f"Tell us how it went: {overview_url(owner, name)}#feedback\n"
    )
    ids = [
        queue_email(
            "imaging_completed",
            f"{stem}:requester",
            requester_addresses(owner, name),
            f"Imaging complete: {name}",
            body,
            request_key=(owner, name),
        )
    ]
    ls = get_schemas().lightsheet
    imaged = [s["sample_name"] for s in samples if s["imaging_progress"] == "complete"]
    waiting = (
        ls.Request.ProcessingRequest
        & {"username": owner, "request_name": name, "imaging_request_number": number, "processing_progress": "pending"}
        & [{"sample_name": s} for s in imaged]
    ).to_dicts()
    if waiting:
        resolutions = sorted({c["image_resolution"] for c in channels if c["sample_name"] in imaged})
        ids.append(
            queue_email(
                "samples_ready_for_processing",
                f"{stem}:processing_staff",
                list_staff_emails("processing_staff"),
                f"Samples ready for processing: {owner}/{name}",
                f"Imaging request {number} of {owner}/{name} is imaged.\n\n"
                f"Samples: {', '.join(sorted({w['sample_name'] for w in waiting}))}\n"
                f"Resolutions: {', '.join(resolutions)}\n\n"
                f"Processing queue: {absolute('/processing/queue')}\n",
                request_key=(owner, name),
            )
        )
    return ids


def queue_batch_assigned(key: dict, assignee: str, when) -> int | None:
    """The new imager: batch, samples, link."""
    from . import queries

    owner, name = key["username"], key["request_name"]
    ib = f"{key['clearing_batch_number']}/{key['imaging_request_number']}/{key['imaging_batch_number']}"
    samples = [s["sample_name"] for s in queries.list_batch_samples(key)]
    return queue_email(
        "imaging_assigned",
        f"imaging.assigned:{owner}/{name}/{ib}:{assignee}:{when.isoformat()}",
        [get_user_email(assignee)],
        "Imaging batch assigned to you",
        f"Imaging batch {key['imaging_batch_number']} of {owner}/{name} (clearing batch "
        f"{key['clearing_batch_number']}, imaging request {key['imaging_request_number']}) was assigned to you.\n\n"
        f"Samples ({len(samples)}): {', '.join(samples)}\n\n"
        f"Imaging entry form: {absolute(f'/imaging/batch/{owner}/{name}/{ib}')}\n",
        request_key=(owner, name),
    )


def queue_waiting_imaging(today, batches: list[dict]) -> int | None:
    """The daily reminder to imaging staff (one per day at most)."""
    lines = [
        f"- {b['username']}/{b['request_name']} clearing batch {b['clearing_batch_number']}, imaging request "
        f"{b['imaging_request_number']}, imaging batch {b['imaging_batch_number']}: "
        f"{plural(b['number_in_imaging_batch'], 'sample')}; imager {b['imager'] or 'not assigned'}"
        for b in batches
    ]
    return queue_email(
        "batches_waiting_for_imaging",
        f"imaging.waiting:{today.isoformat()}",
        list_staff_emails("imaging_staff"),
        "Batches waiting for imaging",
        "These imaging batches have been ready for more than 7 days and have not been started:\n\n"
        + "\n".join(lines)
        + f"\n\nImaging queue: {absolute('/imaging/queue')}\n",
    )
