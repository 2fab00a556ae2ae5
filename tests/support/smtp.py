"""A real SMTP server for tests (aiosmtpd on a loopback port) that keeps what it receives."""

from __future__ import annotations

import email
import email.policy
import threading
import time
from email.message import EmailMessage

from aiosmtpd.controller import Controller


class _Handler:
    def __init__(self, sink: SmtpSink):
        self.sink = sink

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd hook name
        if self.sink.refuse:
            return "451 Temporary failure (test)"
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.sink.lock:
            self.sink.messages.append((list(envelope.rcpt_tos), msg))
        return "250 OK"


class SmtpSink:
    def __init__(self, port: int, host: str = "127.0.0.1"):
        self.host, self.port = host, port
        self.messages: list[tuple[list[str], EmailMessage]] = []
        self.lock = threading.Lock()
        self.refuse = False
        self._controller = Controller(_Handler(self), hostname=host, port=port)

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()

    def clear(self) -> None:
        with self.lock:
            self.messages.clear()
        self.refuse = False

    def wait_for(self, count: int = 1, timeout: float = 15.0, app=None) -> list[tuple[list[str], EmailMessage]]:
        """Wait until at least `count` messages arrived; returns them (fails the test on timeout, describing
        the outbox rows when `app` is given)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.messages) >= count:
                    return list(self.messages)
            time.sleep(0.05)
        with self.lock:
            got = len(self.messages)
        raise AssertionError(f"expected {count} email(s) at the test SMTP server, got {got} in {timeout} s"
                             + (f"; outbox: {outbox_state(app)}" if app is not None else ""))


def outbox_state(app) -> list[tuple]:
    from lightserv.extensions import db
    from lightserv.models import EmailOutbox

    with app.app_context():
        return [(r.id, r.subject, r.status, r.attempts, r.last_error, r.to_addrs)
                for r in db.session.scalars(db.select(EmailOutbox))]
