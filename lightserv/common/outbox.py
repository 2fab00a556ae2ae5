"""The email outbox: services queue emails in the database; a Celery task sends them with retries.

Every email has a de-duplication key, so the same event never emails twice.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from flask import current_app
from sqlalchemy import select, update

from lib.mail import SmtpConfig, build_message, send_message, wrap_body
from lightserv.common.audit import record_event, utcnow
from lightserv.extensions import db
from lightserv.models import EmailOutbox

MAX_ATTEMPTS = 3
BACKOFF_SECONDS = 30  # 30 s, 60 s, 120 s ...


def queue_email(
    template: str,
    dedupe_key: str,
    to: Iterable[str],
    subject: str,
    body: str,
    *,
    cc: Iterable[str] = (),
    request_key: tuple[str, str] | None = None,
) -> int | None:
    """Add an email to the outbox in the current session (the caller commits).

    Returns the outbox id, or None when an email with this key exists already."""
    if "{" in subject + body and "}" in subject + body:
        # every template is filled before queueing; a leftover placeholder is a bug
        import re

        if re.search(r"\{[a-z_]+\}", subject + body):
            raise ValueError(f"email {template!r} has an unfilled placeholder")
    existing = db.session.scalar(select(EmailOutbox.id).where(EmailOutbox.dedupe_key == dedupe_key))
    if existing is not None:
        return None
    settings = current_app.config["SETTINGS"]
    to_list = sorted({a.strip().lower() for a in to if a and a.strip()})
    cc_list = sorted({a.strip().lower() for a in cc if a and a.strip()} - set(to_list))
    from lightserv.notifications.preferences import hold_for_digest, keep_items

    to_list, cc_list, held = hold_for_digest(template, to_list, cc_list)  # users who chose a daily digest
    if held and not to_list and cc_list:  # the main recipient waits for the digest; the copies go now
        to_list, cc_list = cc_list, []
    row = EmailOutbox(
        created_at=utcnow(),
        template=template,
        dedupe_key=dedupe_key[:255],
        to_addrs=to_list,
        cc_addrs=cc_list,
        subject=subject if subject.startswith("lightserv: ") else f"lightserv: {subject}",
        body_text=wrap_body(body, settings.facility_name, settings.facility_contact_email),
        status="queued" if to_list else "suppressed",
        attempts=0,
        last_error="" if to_list else ("kept for the daily digest" if held else "no recipients"),
        request_username=request_key[0] if request_key else None,
        request_name=request_key[1] if request_key else None,
    )
    db.session.add(row)
    db.session.flush()
    if held:
        keep_items(held, template, row.subject, body, row.id)
    return row.id


def dispatch(ids: Iterable[int | None]) -> None:
    """After the commit: hand queued emails to the worker. When the broker (Redis) is down the rows stay
    `queued` and the `retry-queued-emails` beat task sends them once it is back, so a request whose work is
    already saved does not fail because of it."""
    from kombu.exceptions import OperationalError
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    from lightserv.common.dispatch import relay_pending
    from lightserv.common.tasks import send_email

    relay_pending()  # the background tasks written in the same commit
    pending = [outbox_id for outbox_id in ids if outbox_id is not None]
    for n, outbox_id in enumerate(pending):
        try:
            send_email.delay(outbox_id)
        except (OperationalError, RedisConnectionError, RedisTimeoutError) as exc:
            current_app.logger.warning("emails %s stay queued, the broker is unavailable: %s", pending[n:], exc)
            return


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
        .values(status="sending", attempts=EmailOutbox.attempts + 1)
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
    db.session.commit()
    return "sent"


def due_for_retry(now: dt.datetime | None = None, stuck_after: dt.timedelta = dt.timedelta(minutes=10)) -> list[int]:
    """Ids of emails to try again: failed ones whose backoff passed, queued ones never picked up, and
    ones stuck in `sending` (a worker died mid-send)."""
    now = now or utcnow()
    db.session.execute(
        update(EmailOutbox)
        .where(EmailOutbox.status == "sending", EmailOutbox.created_at < now - stuck_after)
        .values(status="failed", last_error="worker stopped while sending")
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
