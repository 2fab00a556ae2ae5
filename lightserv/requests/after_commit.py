"""What an additional imaging or processing request does once its rows are written: the folder task and the
emails, both through their outboxes, so a broker outage fails nothing."""

from __future__ import annotations

from lightserv.common.dispatch import enqueue
from lightserv.common.outbox import dispatch
from lightserv.extensions import db


def send_after_commit(
    req: dict, task_name: str, jobs: list, *, kind: str, dedupe: str, what: str, email_ids: list
) -> None:
    """Record `task_name(jobs)` once per `kind` and `dedupe` of this request, commit, then hand the emails to
    the broker."""
    owner, name = req["username"], req["request_name"]
    key = f"{kind}:{owner}/{name}:{req.get('submitted_at', '')}:{dedupe}"
    enqueue(task_name, jobs, key=key, what=what, request_key=(owner, name))
    db.session.commit()
    dispatch(email_ids)
