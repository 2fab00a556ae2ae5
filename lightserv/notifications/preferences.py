"""Which emails a user takes at once and which in a daily digest.

Every email template belongs to a category (status changes, data ready, failures, reminders) or is
essential (operational alerts such as the storage check, and the digest itself): essential emails and
templates not listed here are always sent at once. `hold_for_digest` runs inside `outbox.queue_email`: the
addresses of users who chose the digest for the email's category are taken off the email and the email
is kept for their digest instead (one query for all recipients).
"""

from __future__ import annotations

from sqlalchemy import select

from lightserv.common.audit import record_event, utcnow
from lightserv.db import get_schemas
from lightserv.extensions import db
from lightserv.models import DigestItem, NotificationPreference
from schemas.enums import NOTIFICATION_CATEGORY

CATEGORY_LABELS = {
    "status": "Status changes (requests received, batches assigned, cleared, imaged, new work in your queue)",
    "data_ready": "Data ready (raw data and processed layers ready to view)",
    "failures": "Failures (processing runs or conversions that failed)",
    "reminders": "Reminders (work waiting longer than it should)",
}
MODE_LABELS = {"immediate": "Each email at once", "digest": "One email a day (daily digest)"}

#: template (as passed to queue_email) -> category; anything else is essential and always sent at once
TEMPLATE_CATEGORY = {
    "request_received": "status",
    "access_granted": "status",
    "request_deleted": "status",
    "new_clearing_request": "status",
    "clearing_assigned": "status",
    "clearing_completed": "status",
    "samples_ready_for_imaging": "status",
    "samples_ready_for_self_imaging": "status",
    "new_imaging_request": "status",
    "imaging_assigned": "status",
    "imaging_completed": "status",
    "additional_imaging_received": "status",
    "samples_ready_for_processing": "status",
    "additional_processing_requester": "status",
    "additional_processing_staff": "status",
    "raw_data_ready": "data_ready",
    "processing_complete": "data_ready",
    "processing_all_complete": "data_ready",
    "processing_failed": "failures",
    "run_failed": "failures",
    "raw_conversion_failed": "failures",
    "raw_conversion_problem": "failures",
    "samples_awaiting_clearing": "reminders",
    "batches_waiting_for_imaging": "reminders",
    "processing_waiting": "reminders",
    "flatfield_needed": "reminders",
}
assert set(TEMPLATE_CATEGORY.values()) == set(NOTIFICATION_CATEGORY)


def get_preferences(username: str) -> dict[str, str]:
    """category -> mode for every category (immediate where the user chose nothing)."""
    chosen = dict(
        db.session.execute(
            select(NotificationPreference.category, NotificationPreference.mode).where(
                NotificationPreference.username == username
            )
        ).all()
    )
    return {c: chosen.get(c, "immediate") for c in NOTIFICATION_CATEGORY}


def set_preferences(username: str, modes: dict[str, str], *, actor: str | None) -> list[str]:
    """Store the user's choices (the caller validated them); returns the categories that changed.
    Event-logged; the caller commits."""
    before = get_preferences(username)
    changed = [c for c in NOTIFICATION_CATEGORY if modes.get(c, before[c]) != before[c]]
    if not changed:
        return []
    rows = {
        r.category: r
        for r in db.session.scalars(select(NotificationPreference).where(NotificationPreference.username == username))
    }
    for category in changed:
        row = rows.get(category)
        if row is None:
            db.session.add(
                NotificationPreference(username=username, category=category, mode=modes[category], updated_at=utcnow())
            )
        else:
            row.mode, row.updated_at = modes[category], utcnow()
    record_event(
        "user.notifications_changed",
        "user",
        {"username": username},
        f"Notification preferences of {username} changed",
        actor=actor,
        before={c: before[c] for c in changed},
        after={c: modes[c] for c in changed},
    )
    return changed


def hold_for_digest(template: str, to: list[str], cc: list[str]) -> tuple[list[str], list[str], list[tuple[str, str]]]:
    """(to, cc, held): the recipients to email now, and (username, address) of those who take this
    category in their daily digest."""
    category = TEMPLATE_CATEGORY.get(template)
    addresses = set(to) | set(cc)
    if category is None or not addresses:
        return to, cc, []
    digest_users = {
        r.username
        for r in db.session.scalars(
            select(NotificationPreference).where(
                NotificationPreference.category == category, NotificationPreference.mode == "digest"
            )
        )
    }
    if not digest_users:
        return to, cc, []
    users = get_schemas().lightsheet.User & [{"username": u} for u in digest_users]
    held = sorted(
        (r["username"], r["email"].strip().lower())
        for r in users.proj("email").to_dicts()
        if r["email"].strip().lower() in addresses
    )
    held_addresses = {address for _, address in held}
    return [a for a in to if a not in held_addresses], [a for a in cc if a not in held_addresses], held


def keep_items(held: list[tuple[str, str]], template: str, subject: str, body: str, outbox_id: int | None) -> None:
    """Store the held email once per digest user (in the caller's session)."""
    for username, address in held:
        db.session.add(
            DigestItem(
                username=username,
                email=address,
                category=TEMPLATE_CATEGORY[template],
                template=template,
                subject=subject[:255],
                body_text=body,
                created_at=utcnow(),
                source_outbox_id=outbox_id,
                digest_outbox_id=None,
            )
        )
