"""Email texts of the imaging flows (requests.md §12 for additional imaging)."""

from __future__ import annotations

from lightserv.auth.queries import list_staff_emails
from lightserv.common.outbox import queue_email
from lightserv.db import get_schemas
from lightserv.requests.emails import absolute, overview_url
from lightserv.requests.recipients import requester_addresses


def queue_additional_imaging(req: dict, chosen, number: int, self_imaging: bool, batch_of: dict) -> list[int | None]:
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
        ls = get_schemas().lightsheet
        done = {
            r["clearing_batch_number"]
            for r in (
                ls.Request.ClearingBatch & {"username": owner, "request_name": name} & "clearing_progress = 'complete'"
            ).to_dicts()
        }
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
