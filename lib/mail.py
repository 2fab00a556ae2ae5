"""Building and sending plain-text email over SMTP. No Flask, no Celery: callers pass every value."""

from __future__ import annotations

import smtplib
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

SUBJECT_PREFIX = "lightserv: "


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    use_tls: bool = False
    username: str = ""
    password: str = ""
    timeout: float = 10.0


def wrap_body(body: str, facility_name: str, contact_email: str) -> str:
    """The fixed opening and signature every lightserv email carries ("The <facility> team", never "The the")."""
    team = facility_name[4:] if facility_name.lower().startswith("the ") else facility_name
    return (
        f"Hello, this is an automated message from lightserv, the light-sheet portal of {facility_name}.\n\n"
        f"{body.strip()}\n\n"
        f"Best regards,\nThe {team} team\n"
        f"Questions? Write to {contact_email}.\n"
    )


def build_message(sender: str, to: Sequence[str], cc: Sequence[str], subject: str, body: str) -> EmailMessage:
    if not to:
        raise ValueError("an email needs at least one recipient")
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = ", ".join(to)
    if cc:
        msg["Cc"] = ", ".join(cc)
    msg["Subject"] = subject if subject.startswith(SUBJECT_PREFIX) else SUBJECT_PREFIX + subject
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or "lightserv")
    msg.set_content(body)
    return msg


def send_message(msg: EmailMessage, config: SmtpConfig) -> None:
    """Send one message; raises smtplib.SMTPException or OSError on failure."""
    with smtplib.SMTP(config.host, config.port, timeout=config.timeout) as smtp:
        if config.use_tls:
            smtp.starttls()
        if config.username:
            smtp.login(config.username, config.password)
        smtp.send_message(msg)
