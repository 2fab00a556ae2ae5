"""The daily digest: one email per user with every email held for them since their last digest."""

from __future__ import annotations

import datetime as dt
from itertools import groupby

from sqlalchemy import select, update

from lightserv.common.dispatch import commit_and_send
from lightserv.common.timefmt import format_datetime
from lightserv.extensions import db
from lightserv.models import DigestItem

from .outbox import queue_email

BODY_LIMIT = 4000  # characters of each held email's text in the digest


def compose(items: list[DigestItem], timezone: str) -> tuple[str, str]:
    """(subject, body) of one user's digest."""
    subject = f"Your daily digest: {len(items)} message{'s' if len(items) != 1 else ''}"
    parts = [
        f"This digest collects {len(items)} message{'s' if len(items) != 1 else ''} that you asked to receive "
        "once a day. Change this on your profile, under Notifications.",
    ]
    for n, item in enumerate(items, 1):
        text = item.body_text if len(item.body_text) <= BODY_LIMIT else item.body_text[:BODY_LIMIT] + "\n[…]"
        title = item.subject.removeprefix("lightserv: ")
        parts.append(f"--- {n}. {title} ({format_datetime(item.created_at, timezone)}) ---\n\n{text.strip()}")
    return subject, "\n\n".join(parts)


def send_digests(now: dt.datetime, timezone: str) -> int:
    """Queue one digest per user with held items and mark the items; returns the number of digests.

    Safe to run twice: items already carried by a digest are skipped, and each digest's de-duplication
    key names the user and the items it carries."""
    pending = db.session.scalars(
        select(DigestItem)
        .where(DigestItem.digest_outbox_id.is_(None), DigestItem.created_at <= now)
        .order_by(DigestItem.username, DigestItem.id)
    ).all()
    queued = []
    for username, group in groupby(pending, key=lambda i: i.username):
        items = list(group)
        subject, body = compose(items, timezone)
        outbox_id = queue_email(
            "daily_digest", f"digest:{username}:{items[0].id}-{items[-1].id}", [items[-1].email], subject, body
        )
        if outbox_id is not None:
            db.session.execute(
                update(DigestItem).where(DigestItem.id.in_([i.id for i in items])).values(digest_outbox_id=outbox_id)
            )
            queued.append(outbox_id)
    commit_and_send(queued)
    return len(queued)
