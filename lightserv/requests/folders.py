"""The folder work of an additional imaging or processing request: one task-outbox row, written with its rows."""

from __future__ import annotations

from lightserv.common.dispatch import enqueue


def enqueue_folder_task(req: dict, task_name: str, jobs: list, *, kind: str, dedupe: str, what: str) -> None:
    """Record `task_name(jobs)` in the open transaction, once per `kind` and `dedupe` of this request (the caller
    commits with `commit_and_send`)."""
    owner, name = req["username"], req["request_name"]
    key = f"{kind}:{owner}/{name}:{req.get('submitted_at', '')}:{dedupe}"
    enqueue(task_name, jobs, key=key, what=what, request_key=(owner, name))
