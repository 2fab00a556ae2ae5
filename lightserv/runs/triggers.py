"""What happens when stages and runs finish. Feature packages register hooks by run kind; each stage
trigger fires once per (run, stage), recorded in Redis-free form: an event row keyed by run and stage."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

from flask import current_app

from lightserv.common.audit import record_event
from lightserv.extensions import db
from lightserv.models import EventLog

StageHook = Callable[[dict, dict], None]  # (run, job)
RunHook = Callable[[dict], None]  # (run)

_stage_hooks: dict[tuple[str, str], list[StageHook]] = defaultdict(list)
_run_hooks: dict[str, list[RunHook]] = defaultdict(list)
_failure_hooks: dict[str, list[RunHook]] = defaultdict(list)
_rerun_hooks: dict[str, list[Callable[[dict, str], None]]] = defaultdict(list)


def on_stage_success(kind: str, stage: str) -> Callable[[StageHook], StageHook]:
    def register(fn: StageHook) -> StageHook:
        if fn not in _stage_hooks[(kind, stage)]:
            _stage_hooks[(kind, stage)].append(fn)
        return fn

    return register


def on_run_success(kind: str) -> Callable[[RunHook], RunHook]:
    def register(fn: RunHook) -> RunHook:
        if fn not in _run_hooks[kind]:
            _run_hooks[kind].append(fn)
        return fn

    return register


def on_run_failure(kind: str) -> Callable[[RunHook], RunHook]:
    def register(fn: RunHook) -> RunHook:
        if fn not in _failure_hooks[kind]:
            _failure_hooks[kind].append(fn)
        return fn

    return register


def fire_stage_triggers(run: dict, job: dict) -> None:
    """Run the hooks of a succeeded stage exactly once (keyed by run and stage in the event log)."""
    hooks = _stage_hooks.get((run["kind"], job["step_name"]), [])
    if not hooks:
        return
    key = {"run_id": run["run_id"], "step_index": job["step_index"]}
    done = (
        EventLog.query.filter_by(action="run.stage_triggered", entity_type="job")
        .filter(EventLog.summary == f"triggers of run {run['run_id']} stage {job['step_index']}")
        .first()
    )
    if done is not None:
        return
    for hook in hooks:
        try:
            hook(run, job)
        except Exception:
            current_app.logger.exception("stage trigger %s failed for run %s", hook.__name__, run["run_id"])
            raise
    record_event(
        "run.stage_triggered",
        "job",
        key,
        f"triggers of run {run['run_id']} stage {job['step_index']}",
        actor=None,
        request_key=(run["username"], run["request_name"]),
    )
    db.session.commit()


def fire_run_triggers(run: dict) -> None:
    for hook in _run_hooks.get(run["kind"], []):
        hook(run)


def fire_failure_hooks(run: dict) -> None:
    for hook in _failure_hooks.get(run["kind"], []):
        try:
            hook(run)
        except Exception:  # noqa: BLE001 - a failing hook must not hide the failure itself
            current_app.logger.exception("failure hook %s failed for run %s", hook.__name__, run["run_id"])


def on_rerun(kind: str) -> Callable:
    """Hooks run before a re-run from a stage (e.g. moving superseded outputs aside, pitfall 66)."""

    def register(fn):
        if fn not in _rerun_hooks[kind]:
            _rerun_hooks[kind].append(fn)
        return fn

    return register


def fire_rerun_hooks(run: dict, from_stage: str) -> None:
    for hook in _rerun_hooks.get(run["kind"], []):
        hook(run, from_stage)
