"""The writing end of the email outbox: services queue emails in the database, in the caller's transaction.

Every email has a de-duplication key, so the same event never emails twice. The recipients who chose the daily
digest for the email's category are taken off it and the email is kept for their digest instead.
`lightserv.common.outbox` sends the rows; `lightserv.common.dispatch.commit_and_send` hands them to the worker.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from flask import current_app
from sqlalchemy import select

from lib.mail import wrap_body
from lightserv.common.audit import utcnow
from lightserv.extensions import db
from lightserv.models import EmailOutbox

from .preferences import hold_for_digest, keep_items


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
        if re.search(r"\{[a-z_]+\}", subject + body):
            raise ValueError(f"email {template!r} has an unfilled placeholder")
    existing = db.session.scalar(select(EmailOutbox.id).where(EmailOutbox.dedupe_key == dedupe_key))
    if existing is not None:
        return None
    settings = current_app.config["SETTINGS"]
    to_list = sorted({a.strip().lower() for a in to if a and a.strip()})
    cc_list = sorted({a.strip().lower() for a in cc if a and a.strip()} - set(to_list))
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
