"""What happens when stages and runs finish. Feature packages add their hooks, by run kind, to the app's one
`RunHooks` (`register_run_hooks` in create_app); nothing registers on import. Each stage
trigger fires once per (run, stage), recorded in Redis-free form: an event row keyed by run and stage, committed
with what the hooks wrote. Run hooks commit with the run's final status (lightserv.runs.observations,
lightserv.runs.failures)."""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Callable

from flask import current_app
from sqlalchemy import select

from lightserv.common.audit import record_event
from lightserv.db import get_schemas
from lightserv.extensions import db
from lightserv.models import EventLog

from . import faults
from .locks import lock_run

StageHook = Callable[[dict, dict], None]  # (run, job)
RunHook = Callable[[dict], None]  # (run)
RerunHook = Callable[[dict, str], None]  # (run, stage the re-run starts at)


def _add(hooks: list, hook: Callable) -> None:
    if hook not in hooks:
        hooks.append(hook)


class RunHooks:
    """The hooks of each run kind, in the order they were added (that order is the order they run in)."""

    def __init__(self) -> None:
        self.stage_success: dict[tuple[str, str], list[StageHook]] = defaultdict(list)
        self.run_success: dict[str, list[RunHook]] = defaultdict(list)
        self.run_failure: dict[str, list[RunHook]] = defaultdict(list)
        self.rerun: dict[str, list[RerunHook]] = defaultdict(list)
        self.before_submit: dict[str, list[RunHook]] = defaultdict(list)
        self.own_failure_emails: set[str] = set()
        self.stage_labels: dict[str, str] = {}

    def on_stage_success(self, kind: str, stage: str, hook: StageHook) -> None:
        _add(self.stage_success[(kind, stage)], hook)

    def on_run_success(self, kind: str, hook: RunHook) -> None:
        _add(self.run_success[kind], hook)

    def on_run_failure(self, kind: str, hook: RunHook) -> None:
        """Also after a staff cancel (the run's status says which)."""
        _add(self.run_failure[kind], hook)

    def on_rerun(self, kind: str, hook: RerunHook) -> None:
        """Before a re-run from a stage is created (e.g. moving superseded outputs aside)."""
        _add(self.rerun[kind], hook)

    def name_stages(self, labels: dict[str, str]) -> None:
        """Stage names in words ("register" -> "registration") for failures told to people."""
        self.stage_labels.update(labels)

    def sends_own_failure_emails(self, kind: str) -> None:
        """The feature package emails failures of this kind itself (the engine still emails a failed submission)."""
        self.own_failure_emails.add(kind)

    def on_before_submit(self, kind: str, hook: RunHook) -> None:
        """Before the first stage of a launched run is submitted (e.g. its output folder)."""
        _add(self.before_submit[kind], hook)


def run_hooks() -> RunHooks:
    """The current app's hooks."""
    hooks: RunHooks = current_app.extensions["run_hooks"]
    return hooks


def _stage_triggered(summary: str) -> bool:
    """Whether a stage's triggers were committed (read on a connection of its own: the latest commit, not the
    snapshot of the DataJoint transaction that waited for the run's lock)."""
    with db.engine.connect() as conn:
        found = conn.execute(
            select(EventLog.id)
            .where(EventLog.action == "run.stage_triggered", EventLog.entity_type == "job", EventLog.summary == summary)
            .limit(1)
        ).first()
    return found is not None


def fire_stage_triggers(run: dict, job: dict) -> None:
    """Run the hooks of a succeeded stage exactly once: what they write (the conversion runs they create and
    launch) commits in one transaction with the marker event, under the run's row lock, so a settler killed
    half-way leaves neither, and the next one does it all."""
    hooks = run_hooks().stage_success.get((run["kind"], job["step_name"]), [])
    if not hooks:
        return
    key = {"run_id": run["run_id"], "step_index": job["step_index"]}
    summary = f"triggers of run {run['run_id']} stage {job['step_index']}"
    if _stage_triggered(summary):
        return
    conn = get_schemas().connection
    with contextlib.nullcontext() if conn.in_transaction else conn.transaction:
        lock_run(run["run_id"])
        if _stage_triggered(summary):  # another settler did it while this one waited for the lock
            return
        for hook in hooks:
            try:
                hook(run, job)
            except Exception:
                current_app.logger.exception("stage trigger %s failed for run %s", hook.__name__, run["run_id"])
                raise
        faults.crash_point("stage_triggered")
        record_event(
            "run.stage_triggered",
            "job",
            key,
            summary,
            actor=None,
            request_key=(run["username"], run["request_name"]),
            dj_conn=conn,
        )
    db.session.commit()


def fire_run_triggers(run: dict) -> None:
    for hook in run_hooks().run_success.get(run["kind"], []):
        hook(run)


def fire_failure_hooks(run: dict) -> None:
    for hook in run_hooks().run_failure.get(run["kind"], []):
        try:
            hook(run)
        except Exception:  # noqa: BLE001 - a failing hook must not hide the failure itself
            current_app.logger.exception("failure hook %s failed for run %s", hook.__name__, run["run_id"])


def fire_rerun_hooks(run: dict, from_stage: str) -> None:
    for hook in run_hooks().rerun.get(run["kind"], []):
        hook(run, from_stage)


def fire_before_submit(run: dict) -> None:
    for hook in run_hooks().before_submit.get(run["kind"], []):
        hook(run)
