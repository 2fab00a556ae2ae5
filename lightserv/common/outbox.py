"""The sending end of the email outbox: a Celery task sends each queued row, with retries.

Services queue emails with `lightserv.notifications.outbox.queue_email` and hand them to the worker with
`lightserv.common.dispatch.commit_and_send`.
"""

from __future__ import annotations

import datetime as dt

from flask import current_app
from sqlalchemy import select, update

from lib.mail import SmtpConfig, build_message, send_message
from lightserv.common.audit import record_event, utcnow
from lightserv.extensions import db
from lightserv.models import EmailOutbox

MAX_ATTEMPTS = 3
BACKOFF_SECONDS = 30  # 30 s, 60 s, 120 s ...
#: how long after its claim an email still `sending` counts as cut off by a dead worker
STUCK_AFTER = dt.timedelta(minutes=10)


def _smtp_config(settings) -> SmtpConfig:
    return SmtpConfig(
        host=settings.mail_server,
        port=settings.mail_port,
        use_tls=settings.mail_use_tls,
        username=settings.mail_username,
        password=settings.mail_password,
        timeout=settings.mail_timeout_seconds,
    )


def deliver(outbox_id: int) -> str:
    """Send one outbox row if it is due. Returns the row's status afterwards ("gone" if missing).

    The row is claimed with a conditional UPDATE, so two workers never send the same email."""
    settings = current_app.config["SETTINGS"]
    now = utcnow()
    claimed = db.session.execute(
        update(EmailOutbox)
        .where(
            EmailOutbox.id == outbox_id,
            EmailOutbox.status.in_(("queued", "failed")),
            EmailOutbox.attempts < MAX_ATTEMPTS,
        )
        .values(status="sending", attempts=EmailOutbox.attempts + 1, next_attempt_at=now + STUCK_AFTER)
    ).rowcount
    db.session.commit()
    row = db.session.get(EmailOutbox, outbox_id)
    if row is None:
        return "gone"
    if not claimed:
        return row.status
    to, cc, body = list(row.to_addrs), list(row.cc_addrs or []), row.body_text
    if settings.lightserv_mode == "DEV":
        body = f"[DEV: originally to {', '.join(to)}{'; cc ' + ', '.join(cc) if cc else ''}]\n\n{body}"
        to, cc = [settings.mail_dev_recipient], []
    try:
        send_message(build_message(settings.mail_default_sender, to, cc, row.subject, body), _smtp_config(settings))
    except Exception as exc:  # SMTP errors, refused connections, timeouts
        row.status = "failed"
        row.last_error = f"{type(exc).__name__}: {exc}"[:1024]
        row.next_attempt_at = now + dt.timedelta(seconds=BACKOFF_SECONDS * 2 ** (row.attempts - 1))
        if row.attempts >= MAX_ATTEMPTS:
            record_event(
                "email.failed",
                "email",
                {"id": row.id},
                f"Email '{row.subject}' failed {row.attempts} times",
                actor=None,
                after={"error": row.last_error},
                request_key=(row.request_username, row.request_name) if row.request_name else None,
            )
        db.session.commit()
        return "failed"
    row.status = "sent"
    row.sent_at = utcnow()
    row.last_error = ""
    row.next_attempt_at = None
    db.session.commit()
    return "sent"


def due_for_retry(now: dt.datetime | None = None) -> list[int]:
    """Ids of emails to try again: failed ones whose backoff passed, queued ones never picked up, and
    ones stuck in `sending` (a worker died mid-send) for STUCK_AFTER since their claim, never a live send."""
    now = now or utcnow()
    stuck_since_claim = EmailOutbox.next_attempt_at <= now
    claimed_before_the_stamp = EmailOutbox.next_attempt_at.is_(None) & (EmailOutbox.created_at < now - STUCK_AFTER)
    db.session.execute(
        update(EmailOutbox)
        .where(EmailOutbox.status == "sending", stuck_since_claim | claimed_before_the_stamp)
        .values(status="failed", last_error="worker stopped while sending", next_attempt_at=None)
    )
    db.session.commit()
    rows = db.session.scalars(
        select(EmailOutbox.id).where(
            EmailOutbox.attempts < MAX_ATTEMPTS,
            (
                (EmailOutbox.status == "failed")
                & ((EmailOutbox.next_attempt_at.is_(None)) | (EmailOutbox.next_attempt_at <= now))
            )
            | ((EmailOutbox.status == "queued") & (EmailOutbox.created_at <= now - dt.timedelta(minutes=1))),
        )
    )
    return list(rows)
