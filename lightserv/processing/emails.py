"""Emails of processing. Each goes through the outbox with a de-duplication key, so
"once" holds across workers and re-deliveries. A failed run's staff email is sent by the
cluster engine (lightserv.runs.emails) for every run kind.
"""

from __future__ import annotations

import hashlib

from flask import current_app

from lightserv.auth.queries import list_staff_emails
from lightserv.common.dispatch import commit_and_send
from lightserv.db import get_schemas
from lightserv.layers.labels import PRODUCT_LABELS as PRODUCT_LABELS  # processing pages read it from here
from lightserv.layers.labels import product_words
from lightserv.notifications.outbox import queue_email
from lightserv.requests.emails import absolute, overview_url
from lightserv.requests.recipients import requester_addresses


def pr_path(pkey: dict) -> str:
    return (
        f"{pkey['username']}/{pkey['request_name']}/{pkey['sample_name']}/{pkey['imaging_request_number']}/"
        f"{pkey['processing_request_number']}"
    )


def log_url(pkey: dict) -> str:
    return absolute(f"/processing/log/{pr_path(pkey)}")


def entry_url(pkey: dict) -> str:
    return absolute(f"/processing/entry/{pr_path(pkey)}")


def _viewer_url(pkey: dict) -> str | None:
    """The viewer setup page when the viewer area exists in this build. A path like the other
    links: these emails are queued by the poller in a Celery worker, outside any request, where `url_for`
    cannot build a URL (the link was silently left out)."""
    if "viewer.setup" not in current_app.view_functions:
        return None
    return absolute(f"/viewer/setup/{pr_path(pkey)}")


def _display_root() -> str:
    settings = current_app.config["SETTINGS"]
    return (settings.data_root_display or str(settings.data_root)).rstrip("/")


def send_complete(pkey: dict) -> None:
    """Requester: products and output folders, viewer and log links, feedback link; then, once, "All
    processing for <request> is complete" when every processing request of the request is complete."""
    ls = get_schemas().lightsheet
    owner, name, sample = pkey["username"], pkey["request_name"], pkey["sample_name"]
    lines = []
    for rr in (ls.Request.ProcessingResolutionRequest & pkey).to_dicts(order_by=["image_resolution", "ventral_up"]):
        side = " (ventral up)" if rr["ventral_up"] else ""
        folder = f"{_display_root()}/{rr['output_dir']}" if rr["output_dir"] else ""
        lines.append(f"{rr['image_resolution']}{side}:" + (f" output folder {folder}" if folder else ""))
        rkey = {**pkey, "image_resolution": rr["image_resolution"], "ventral_up": rr["ventral_up"]}
        for layer in (ls.Request.DataLayer & rkey).to_dicts(order_by=["channel_name", "product", "lightsheet"]):
            lines.append(f"  - {layer['channel_name']} nm: {product_words(layer['product'], layer['lightsheet'])}")
    viewer = _viewer_url(pkey)
    body = (
        f"Processing of sample {sample} (request {name}, imaging request {pkey['imaging_request_number']}, "
        f"processing request {pkey['processing_request_number']}) is complete.\n\n"
        + "\n".join(lines)
        + "\n\n"
        + (f"Open the results in the viewer: {viewer}\n" if viewer else "")
        + f"Processing log: {log_url(pkey)}\n"
        f"Tell us how it went: {overview_url(owner, name)}#feedback\n"
    )
    ids = [
        queue_email(
            "processing_complete",
            f"processing.complete:{pr_path(pkey)}",
            requester_addresses(owner, name),
            f"Processing complete: {name} / {sample}",
            body,
            request_key=(owner, name),
        )
    ]
    every = (ls.Request.ProcessingRequest & {"username": owner, "request_name": name}).to_dicts(
        order_by=["sample_name", "imaging_request_number", "processing_request_number"]
    )
    if every and all(r["processing_progress"] == "complete" for r in every):
        signature = ",".join(f"{r['sample_name']}/{r['imaging_request_number']}/{r['processing_request_number']}"
                             for r in every)  # fmt: skip
        digest = hashlib.sha1(signature.encode(), usedforsecurity=False).hexdigest()[:16]
        sample_lines = [
            f"- {r['sample_name']} (imaging request {r['imaging_request_number']}, processing request "
            f"{r['processing_request_number']}): {log_url({**r})}"
            for r in every
        ]
        ids.append(
            queue_email(
                "processing_all_complete",
                f"processing.all_complete:{owner}/{name}:{digest}",
                requester_addresses(owner, name),
                f"All processing for {name} is complete",
                f"Every processing request of your request {name} is complete.\n\n"
                + "\n".join(sample_lines)
                + f"\n\nRequest overview: {overview_url(owner, name)}\n",
                request_key=(owner, name),
            )
        )
    commit_and_send(ids)


def send_failed(pkey: dict, summary: str, run_ids: list[int | None]) -> None:
    """Requester, in plain language; once per failure (keyed by the failed runs)."""
    owner, name, sample = pkey["username"], pkey["request_name"], pkey["sample_name"]
    marker = ",".join(str(r) for r in sorted(r for r in run_ids if r)) or "none"
    outbox_id = queue_email(
        "processing_failed",
        f"processing.failed:{pr_path(pkey)}:{marker}",
        requester_addresses(owner, name),
        f"Problem processing {sample}",
        f"Processing of sample {sample} (request {name}, imaging request {pkey['imaging_request_number']}, "
        f"processing request {pkey['processing_request_number']}) stopped:\n\n{summary}\n\n"
        "The facility has been notified and will re-run it or contact you.\n"
        f"Processing log: {log_url(pkey)}\n",
        request_key=(owner, name),
    )
    commit_and_send([outbox_id])


def send_flatfield_needed(run: dict, channels: list[str]) -> None:
    """Processing staff, once per resolution and side of an imaging request."""
    owner, name, sample = run["username"], run["request_name"], run["sample_name"]
    side = "_ventral_up" if run["ventral_up"] else ""
    target = f"{owner}/{name}/{sample}"
    ls = get_schemas().lightsheet
    prs = (
        ls.Request.ProcessingRequest & {k: run[k] for k in ("username", "request_name", "sample_name",
                                                            "imaging_request_number")}
    ).to_dicts(order_by=["processing_request_number"])  # fmt: skip
    links = [f"Entry form: {entry_url(pr)}" for pr in prs if pr["processing_progress"] in ("pending", "running")]
    outbox_id = queue_email(
        "flatfield_needed",
        f"processing.flatfield_needed:{target}/{run['imaging_request_number']}:{run['image_resolution']}{side}",
        list_staff_emails("processing_staff"),
        f"Flat-field needed: {target}",
        f"SmartSPIM stitching of {target} (imaging request {run['imaging_request_number']}) at "
        f"{run['image_resolution']}{' ventral up' if run['ventral_up'] else ''} succeeded.\n\n"
        f"Channels: {', '.join(channels)}\n\n"
        "Enter the flat-field file of each channel to start destriping.\n"
        + "\n".join(links)
        + f"\nProcessing queue: {absolute('/processing/queue')}\n",
        request_key=(owner, name),
    )
    commit_and_send([outbox_id])


def queue_waiting(today, ready: list[dict], running: list[dict]) -> int | None:
    """The daily reminder to processing staff (one per facility day at most)."""

    def line(r: dict) -> str:
        link = entry_url(r) if r["processing_progress"] == "pending" else log_url(r)
        return (
            f"- {r['username']}/{r['request_name']}/{r['sample_name']} imaging request {r['imaging_request_number']}, "
            f"processing request {r['processing_request_number']}: {link}"
        )

    parts = []
    if ready:
        parts.append("Ready to process for more than 7 days:\n" + "\n".join(line(r) for r in ready))
    if running:
        parts.append("Running for more than 3 days:\n" + "\n".join(line(r) for r in running))
    return queue_email(
        "processing_waiting",
        f"processing.waiting:{today.isoformat()}",
        list_staff_emails("processing_staff"),
        "Processing requests waiting",
        "\n\n".join(parts) + f"\n\nProcessing queue: {absolute('/processing/queue')}\n",
    )
