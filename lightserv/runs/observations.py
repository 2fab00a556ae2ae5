"""Applying what the scheduler reports.

`apply_observations` writes only what changed (job row, one history row, one event); `settle_run` derives
the run status, fails the rest of a failed run and fires the success triggers once, in the transaction
that finishes the run.
"""

from __future__ import annotations

import datetime as dt

from flask import current_app

from lightserv.common.audit import record_event, utcnow
from lightserv.common.dispatch import relay_pending
from lightserv.db import get_schemas
from lightserv.extensions import db
from schemas.enums import SLURM_TERMINAL_STATES

from . import faults
from .emails import log_tail
from .engine import get_run
from .failures import fail_run, stage_error, write_end
from .locks import lock_run
from .model import derive_run_status, is_terminal, state_label
from .triggers import fire_run_triggers, fire_stage_triggers


def apply_observations(observations: dict[str, dict], now: dt.datetime | None = None, backend=None) -> set[int]:
    """Write the changes the scheduler reported. `observations`: slurm id -> {state, raw_state, exit_code,
    started_at, ended_at, array_done} (absent ids are not in the dict). Returns the ids of runs touched."""
    schemas = get_schemas()
    jobs_table = schemas.jobs.PipelineRun.SlurmJob
    now = now or utcnow()
    active = (jobs_table & "slurm_job_id IS NOT NULL" & f"state NOT IN ({terminal_states_sql()})").to_dicts()
    touched: set[int] = set()
    lost_after = dt.timedelta(minutes=current_app.config["SETTINGS"].slurm_lost_job_minutes)
    for job in active:
        seen = observations.get(job["slurm_job_id"])
        key = {"run_id": job["run_id"], "step_index": job["step_index"]}
        if seen is None:
            since = job["state_changed_at"] or job["submitted_at"] or now
            if now - since >= lost_after:
                seen = {
                    "state": "UNKNOWN",
                    "raw_state": "not found in Slurm accounting",
                    "exit_code": "",
                    "array_done": job["array_done"],
                }
            else:
                jobs_table.update1({**key, "missing_polls": job["missing_polls"] + 1})
                continue
        seen = _memory_kill_as_oom(job, seen)
        changes = {
            k: seen.get(k)
            for k in ("state", "raw_state", "exit_code", "array_done")
            if seen.get(k) is not None and seen.get(k) != job[k]
        }
        for time_key in ("started_at", "ended_at"):
            if seen.get(time_key) and job[time_key] is None:
                changes[time_key] = seen[time_key]
        if job["missing_polls"]:
            changes["missing_polls"] = 0
        if not changes:
            continue
        state_changed = "state" in changes or "array_done" in changes
        if state_changed:
            changes["state_changed_at"] = now
        # the job row, its history row and its event commit together: a poller killed mid-poll leaves each
        # job either fully updated or untouched, never changed without its history (the next poll redoes it)
        with schemas.connection.transaction:
            jobs_table.update1({**key, **changes})
            if state_changed:
                schemas.jobs.SlurmJobState.insert1(
                    {
                        **key,
                        "observed_at": dt.datetime.now(dt.UTC).replace(tzinfo=None),
                        "state": seen["state"],
                        "raw_state": seen.get("raw_state") or "",
                        "exit_code": seen.get("exit_code") or "",
                        "array_done": seen.get("array_done"),
                    }
                )
                if "state" in changes:
                    record_event(
                        "job.state_changed",
                        "job",
                        key,
                        f"Job {job['slurm_job_id']} ({job['step_name']}): "
                        f"{state_label(job['state'])} → {state_label(seen['state'], seen.get('exit_code', ''))}",
                        actor=None,
                        before={"state": job["state"]},
                        after={"state": seen["state"], "raw_state": seen.get("raw_state")},
                        dj_conn=schemas.connection,
                    )
        if state_changed:
            touched.add(job["run_id"])
            faults.crash_point("job_written")
    db.session.commit()
    for run_id in sorted(touched):
        settle_run(run_id, backend)
    return touched


def unsettled_runs() -> list[int]:
    """Queued or running runs none of whose jobs is still active: a poll that stopped between writing the
    last job change and settling the run (a killed worker) leaves them so; the next poll settles them."""
    jobs_schema = get_schemas().jobs
    active = (jobs_schema.PipelineRun.SlurmJob & f"state NOT IN ({terminal_states_sql()})").proj()
    runs = (jobs_schema.PipelineRun & "status IN ('queued', 'running')") - active
    return sorted(int(r) for r in runs.to_arrays("run_id"))


def terminal_states_sql() -> str:
    return ", ".join(f"'{s}'" for s in sorted(SLURM_TERMINAL_STATES))


def settle_run(run_id: int, backend=None) -> str:
    """Derive the run status from its jobs; act on the change (failure handling, success triggers)."""
    run, jobs = get_run(run_id)
    if run["status"] in ("succeeded", "failed", "cancelled"):
        return run["status"]
    for job in jobs:
        if job["state"] == "COMPLETED":
            fire_stage_triggers(run, job)
    status = derive_run_status([j["state"] for j in jobs])
    if status == "failed":
        failed = next(j for j in jobs if is_terminal(j["state"]) and j["state"] != "COMPLETED")
        reason = f"{failed['step_name'].capitalize()} {failure_phrase(failed['state'], failed['exit_code'])}"
        if failed["state"] == "FAILED" and (sentence := stage_error(failed)):
            reason += f": {sentence}"  # the stage's own sentence (e.g. the storage full) for staff
        fail_run(run_id, reason, backend=backend)
        return "failed"
    if status == "succeeded":
        _succeed_run(run)
    elif status != run["status"]:
        get_schemas().jobs.PipelineRun.update1({"run_id": run_id, "status": status})
    return status


def _succeed_run(run: dict) -> None:
    """The success status, its event and what the run's hooks write (layers ready, conversion runs launched,
    emails' tasks) commit together under the run's row lock: a settler killed before the commit leaves the run
    unsettled (the next poll does it all), and a second settler finds it finished."""
    run_id = run["run_id"]
    schemas = get_schemas()
    with schemas.connection.transaction:
        if lock_run(run_id)["status"] not in ("queued", "running"):
            return
        write_end(
            run, {"status": "succeeded"}, "run.finished", f"Run {run_id} succeeded", after={"status": "succeeded"}
        )
        fire_run_triggers({**run, "status": "succeeded"})
        faults.crash_point("run_succeeded")
    db.session.commit()
    faults.crash_point("run_settled")
    relay_pending()


def failure_phrase(state: str, exit_code: str) -> str:
    return {
        "FAILED": f"failed (exit code {exit_code or '?'})",
        "TIMEOUT": "ran out of time",
        "OUT_OF_MEMORY": "ran out of memory",
        "NODE_FAIL": "stopped by a compute node failure",
        "BOOT_FAIL": "stopped by a compute node failure",
        "DEADLINE": "was stopped by the scheduler",
        "PREEMPTED": "was stopped by the scheduler",
        "REVOKED": "was stopped by the scheduler",
        "CANCELLED": "was cancelled on the cluster",
        "UNKNOWN": "was lost (not found in Slurm)",
    }.get(state, f"ended as {state}")


MEMORY_KILL_MARKERS = ("exceeded memory limit", "oom-kill", "out of memory")


def _memory_kill_as_oom(job: dict, seen: dict) -> dict:
    """Slurm without cgroups kills a job over its --mem with SIGKILL and accounts it `FAILED 0:9`; its
    stderr says "exceeded memory limit". Report that as OUT_OF_MEMORY, the state cgroup clusters give."""
    if seen.get("state") != "FAILED" or not str(seen.get("exit_code", "")).endswith(":9"):
        return seen
    tail = log_tail(job["stderr_path"], job["slurm_job_id"], lines=50).lower()
    if any(marker in tail for marker in MEMORY_KILL_MARKERS):
        return {**seen, "state": "OUT_OF_MEMORY", "raw_state": f"{seen.get('raw_state') or 'FAILED'} (memory limit)"}
    return seen
