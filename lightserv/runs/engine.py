"""Runs and jobs in the database (data-model.md §4, processing.md §8–9).

- `create_run` writes the run, one job row per stage and the parameter document, in one transaction.
- `submit_run` submits the stages in order, each after the previous one's id is stored, so a worker that
  dies mid-way resumes where it stopped: a stage with a stored id is never submitted again, and a stage
  the cluster already knows by its job name (run, stage, attempt, deployment) is recorded, not resubmitted.
- `apply_observations` writes only what changed (job row, one history row, one event), derives the run
  status, cancels the rest of a failed run, and fires success triggers once.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import importlib.util
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

from flask import current_app

from lib.naming import runs_dir
from lightserv.common.audit import record_event, utcnow
from lightserv.db import get_schemas

from .model import StageDef, derive_run_status, is_terminal, resolve_resources, state_label

TARGET_KEYS = (
    "username",
    "request_name",
    "sample_name",
    "imaging_request_number",
    "processing_request_number",
    "image_resolution",
    "ventral_up",
    "channel_name",
    "lightsheet",
)


class RunError(Exception):
    pass


def code_dir() -> Path:
    settings = current_app.config["SETTINGS"]
    return Path(settings.processing_code_dir)


def code_commit(directory: Path) -> str | None:
    """Full git commit hash of the checkout in `directory` (None when it is not a git checkout)."""
    try:
        out = subprocess.run(  # noqa: S603 - fixed argv, no user input
            ["git", "-C", str(directory), "rev-parse", "HEAD"],  # noqa: S607 - git from PATH
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    value = out.stdout.strip()
    return value if out.returncode == 0 and len(value) == 40 else None


def module_path(module: str, base: Path) -> Path:
    """File of a `python -m` module inside the code folder."""
    candidate = base.joinpath(*module.split("."))
    if candidate.with_suffix(".py").exists():
        return candidate.with_suffix(".py")
    if (candidate / "__main__.py").exists():
        return candidate / "__main__.py"
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise RunError(f"stage module {module} not found")
    return Path(spec.origin)


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def create_run(
    kind: str,
    target: dict,
    stages: list[StageDef],
    params: dict,
    *,
    created_by: str,
    output_dir: str,
    attempt: int = 1,
    start_stage: str | None = None,
) -> int:
    """Write the run, its jobs (NOT_SUBMITTED) and params.json; returns the run id."""
    if not stages:
        raise RunError("a run needs at least one stage")
    settings = current_app.config["SETTINGS"]
    schemas = get_schemas()
    jobs_schema, conn = schemas.jobs, schemas.connection
    base = code_dir()
    now = utcnow()
    row = {k: target[k] for k in TARGET_KEYS if k in target}
    row.setdefault("processing_request_number", 0)
    row.setdefault("ventral_up", 0)
    row.setdefault("lightsheet", "none")
    # joins the caller's transaction when one is open (processing start writes its rows and runs together)
    with contextlib.nullcontext() if conn.in_transaction else conn.transaction:
        jobs_schema.PipelineRun.insert1(
            dict(
                **row,
                kind=kind,
                attempt=attempt,
                start_stage=start_stage or stages[0].name,
                status="queued",
                created_by=created_by,
                created_at=now,
                finished_at=None,
                params={},
                run_dir="",
                output_dir=output_dir,
                code_dir=str(base),
                code_commit=code_commit(base),
                container_image=None,
                superseded_by_run_id=None,
                failure_reason="",
                cancelled_by=None,
            )
        )
        run_id = int(conn.query("SELECT LAST_INSERT_ID()").fetchone()[0])
        rel_dir = runs_dir(
            row["username"], row["request_name"], row["sample_name"], row["imaging_request_number"]
        ) / str(run_id)
        # the engine fills these keys only when the document asks for them (value None): stage programs
        # such as lib.precomputed refuse keys they do not know
        filled = {
            "run_id": run_id,
            "data_root": str(settings.data_root),
            "output_dir": str(Path(settings.data_root) / output_dir),
        }
        document = {k: (filled[k] if k in filled and v is None else v) for k, v in params.items()}
        jobs_schema.PipelineRun.update1({"run_id": run_id, "params": document, "run_dir": str(rel_dir)})
        job_rows = []
        for index, stage in enumerate(stages):
            deps = list(stage.depends_on) if stage.depends_on is not None else ([index - 1] if index else [])
            script = module_path(stage.module, base)
            res = resolve_resources(kind, stage.name, stage.resources, settings.slurm_stage_resources)
            job_rows.append(
                dict(
                    run_id=run_id,
                    step_index=index,
                    step_name=stage.name,
                    slurm_job_id=None,
                    depends_on_steps=deps,
                    is_array=int(stage.array_size is not None),
                    array_size=stage.array_size,
                    array_done=None,
                    script_path=str(script),
                    script_sha256=sha256_of(script),
                    sbatch_args="",
                    partition=res.partition or settings.slurm_partition_default,
                    cpus=res.cpus,
                    mem_gb=res.mem_gb,
                    time_limit=res.time_limit,
                    state="NOT_SUBMITTED",
                    raw_state="",
                    exit_code="",
                    submitted_at=None,
                    started_at=None,
                    ended_at=None,
                    state_changed_at=None,
                    last_polled_at=None,
                    stdout_path=str(rel_dir / f"stage_{index}_%A_%a.out"),
                    stderr_path=str(rel_dir / f"stage_{index}_%A_%a.err"),
                    missing_polls=0,
                )
            )
        jobs_schema.PipelineRun.SlurmJob.insert(job_rows)
        record_event(
            "run.created",
            "run",
            {"run_id": run_id},
            f"{kind} run {run_id} created ({len(stages)} stages)",
            request_key=(row["username"], row["request_name"]),
            actor=created_by if created_by != "system" else None,
            after={"stages": [s.name for s in stages], "attempt": attempt},
            dj_conn=conn,
        )
        folder = Path(settings.data_root) / rel_dir
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "params.json").write_text(json.dumps(document, indent=2, sort_keys=True))
    return run_id


def stage_argv(job: dict, run: dict) -> list[str]:
    """The command of a stage: `python -m <module> <stage> --params <params.json>` (plus `--task-index` for
    arrays), the one calling convention of every stage program (lib.precomputed, lib.pipeline)."""
    settings = current_app.config["SETTINGS"]
    module = job_module(job, run)
    params = str(Path(settings.data_root) / run["run_dir"] / "params.json")
    return [settings.processing_python, "-m", module, job["step_name"], "--params", params]


def job_module(job: dict, run: dict) -> str:
    base = Path(run["code_dir"])
    path = Path(job["script_path"])
    try:
        rel = path.relative_to(base)
    except ValueError:
        return path.stem
    parts = list(rel.with_suffix("").parts)
    if parts and parts[-1] == "__main__":
        parts = parts[:-1]
    return ".".join(parts)


def get_run(run_id: int) -> tuple[dict, list[dict]]:
    jobs_schema = get_schemas().jobs
    runs = (jobs_schema.PipelineRun & {"run_id": run_id}).to_dicts()
    if not runs:
        raise RunError(f"no run {run_id}")
    jobs = (jobs_schema.PipelineRun.SlurmJob & {"run_id": run_id}).to_dicts(order_by=["step_index"])
    return runs[0], jobs


SUBMIT_LOCK_SECONDS = 30  # a killed submitter holds its run's lock this long at most
SUBMIT_LOCK_WAIT = 45.0  # a second submitter waits this long for the first to finish (or its lock to lapse)


def submit_lock_key(run_id: int) -> str:
    return f"lightserv:runs:submitting:{run_id}"


def submit_run(run_id: int, backend) -> list[str]:
    """Submit every stage without a stored job id, in order, each after its dependencies. Idempotent: one
    submitter per run at a time, and a stage the cluster already knows by its job name (submitted by a
    worker that died before storing the id) is recorded instead of submitted again. On failure cancel
    what was submitted and fail the run visibly. Returns the job ids."""
    from .locks import redis_lock

    with redis_lock(submit_lock_key(run_id), SUBMIT_LOCK_SECONDS, wait=SUBMIT_LOCK_WAIT, if_unreachable=True) as held:
        if held:
            return _submit_stages(run_id, backend)
    current_app.logger.info("run %s is being submitted by another worker; it records every stage", run_id)
    return stored_ids(get_run(run_id)[1])


def stored_ids(jobs: list[dict]) -> list[str]:
    return [j["slurm_job_id"] for j in sorted(jobs, key=lambda j: j["step_index"]) if j["slurm_job_id"]]


def _submit_stages(run_id: int, backend) -> list[str]:
    from .backend import job_name

    run, jobs = get_run(run_id)
    ids: dict[int, str] = {j["step_index"]: j["slurm_job_id"] for j in jobs if j["slurm_job_id"]}
    waiting = [j for j in jobs if j["step_index"] not in ids]
    if not waiting or run["status"] not in ("queued", "running"):
        return stored_ids(jobs)
    settings = current_app.config["SETTINGS"]
    names = {j["step_index"]: job_name(run, j, settings) for j in waiting}
    since = (run["created_at"] - dt.timedelta(days=1)).date()  # whatever zone the cluster's clock is in
    with _failure_fails_run(run_id, backend):
        found = backend.find(list(names.values()), since)
    for job in waiting:
        deps = [ids[d] for d in job["depends_on_steps"] if d in ids]
        name = names[job["step_index"]]
        with _failure_fails_run(run_id, backend):
            spec = backend_spec(backend, job, run, deps, name, settings)
            job_id = found.get(name) or backend.submit(spec)
        record_submission(run, job, str(job_id), spec_args(spec), adopted=name in found)
        ids[job["step_index"]] = str(job_id)
    return [ids[i] for i in sorted(ids)]


@contextlib.contextmanager
def _failure_fails_run(run_id: int, backend) -> Iterator[None]:
    """An error in the block (connection, authentication, rejection, unparsable output) fails the run
    (fail_run cancels the stages already submitted: their ids are stored) and raises RunError."""
    from .failures import fail_run

    try:
        yield
    except Exception as exc:
        first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        fail_run(run_id, f"Could not submit: {first_line}"[:512], backend=backend)
        raise RunError(f"Could not submit: {first_line}") from exc


def record_submission(run: dict, job: dict, job_id: str, sbatch_args: str, *, adopted: bool) -> None:
    """The stage's job id, its SUBMITTED history row and its event, in one transaction."""
    schemas = get_schemas()
    key = {"run_id": run["run_id"], "step_index": job["step_index"]}
    now = utcnow()
    how = "found on the cluster (submitted before a restart) as" if adopted else "submitted as"
    with schemas.connection.transaction:
        schemas.jobs.PipelineRun.SlurmJob.update1(
            {
                **key,
                "slurm_job_id": job_id,
                "state": "SUBMITTED",
                "raw_state": "SUBMITTED",
                "submitted_at": now,
                "state_changed_at": now,
                "sbatch_args": sbatch_args[:1024],
            }
        )
        schemas.jobs.SlurmJobState.insert1(
            {
                **key,
                "observed_at": dt.datetime.now(dt.UTC).replace(tzinfo=None),
                "state": "SUBMITTED",
                "raw_state": "SUBMITTED",
                "exit_code": "",
                "array_done": None,
            }
        )
        record_event(
            "job.submitted",
            "job",
            key,
            f"Stage {job['step_name']} of run {run['run_id']} {how} job {job_id}",
            request_key=(run["username"], run["request_name"]),
            actor=None,
            after={"job_id": job_id, "adopted": adopted},
            dj_conn=schemas.connection,
        )


def backend_spec(backend, job: dict, run: dict, deps: list[str], name: str, settings):
    from .backend import make_spec

    return make_spec(
        backend, job=job, run=run, argv=stage_argv(job, run), dependencies=deps, job_name=name, settings=settings
    )


def spec_args(spec) -> str:
    from .backend import describe_spec

    return describe_spec(spec)


def apply_observations(observations: dict[str, dict], now: dt.datetime | None = None, backend=None) -> set[int]:
    """Write the changes the scheduler reported. `observations`: slurm id -> {state, raw_state, exit_code,
    started_at, ended_at, array_done} (absent ids are not in the dict). Returns the ids of runs touched."""
    from lightserv.extensions import db

    schemas = get_schemas()
    jobs_table = schemas.jobs.PipelineRun.SlurmJob
    now = now or utcnow()
    active = (jobs_table & "slurm_job_id IS NOT NULL" & f"state NOT IN ({_terminal_sql()})").to_dicts()
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
    db.session.commit()
    for run_id in sorted(touched):
        settle_run(run_id, backend)
    return touched


def unsettled_runs() -> list[int]:
    """Queued or running runs none of whose jobs is still active: a poll that stopped between writing the
    last job change and settling the run (a killed worker) leaves them so; the next poll settles them."""
    jobs_schema = get_schemas().jobs
    active = (jobs_schema.PipelineRun.SlurmJob & f"state NOT IN ({_terminal_sql()})").proj()
    runs = (jobs_schema.PipelineRun & "status IN ('queued', 'running')") - active
    return sorted(int(r) for r in runs.to_arrays("run_id"))


def _terminal_sql() -> str:
    from schemas.enums import SLURM_TERMINAL_STATES

    return ", ".join(f"'{s}'" for s in sorted(SLURM_TERMINAL_STATES))


def settle_run(run_id: int, backend=None) -> str:
    """Derive the run status from its jobs; act on the change (failure handling, success triggers)."""
    from .failures import fail_run, stage_error
    from .triggers import fire_stage_triggers

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
    if status != run["status"]:
        update = {"run_id": run_id, "status": status}
        if status == "succeeded":
            update["finished_at"] = utcnow()
        get_schemas().jobs.PipelineRun.update1(update)
        if status == "succeeded":
            from .triggers import fire_run_triggers

            record_event(
                "run.finished",
                "run",
                {"run_id": run_id},
                f"Run {run_id} succeeded",
                actor=None,
                request_key=(run["username"], run["request_name"]),
                after={"status": status},
            )
            from lightserv.extensions import db

            db.session.commit()
            fire_run_triggers({**run, "status": status})
    return status


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


def stages_of(jobs: list[dict], run: dict, from_index: int) -> list[StageDef]:
    """Stage definitions of a run's stages from `from_index` on, rebuilt from its job rows."""
    from .model import Resources

    picked = [j for j in jobs if j["step_index"] >= from_index]
    renumber = {j["step_index"]: i for i, j in enumerate(picked)}
    stages = []
    for j in picked:
        deps = tuple(renumber[d] for d in j["depends_on_steps"] if d in renumber)
        stages.append(
            StageDef(
                name=j["step_name"],
                module=job_module(j, run),
                resources=Resources(
                    cpus=j["cpus"], mem_gb=j["mem_gb"], time_limit=j["time_limit"], partition=j["partition"]
                ),
                array_size=j["array_size"] if j["is_array"] else None,
                depends_on=deps,
            )
        )
    return stages


def rerun_from_stage(run_id: int, from_index: int, actor: str) -> int:
    """A new attempt of the same target starting at stage `from_index` (processing.md §9.2)."""
    from .triggers import fire_rerun_hooks

    run, jobs = get_run(run_id)
    if run["status"] in ("queued", "running"):
        raise RunError("Cancel the run before re-running it.")
    if run["superseded_by_run_id"]:
        raise RunError(f"Run {run_id} was already re-run as run {run['superseded_by_run_id']}.")
    first_unfinished = next((j["step_index"] for j in jobs if j["state"] != "COMPLETED"), len(jobs) - 1)
    if not 0 <= from_index <= first_unfinished:
        raise RunError("Choose a stage up to the first stage that did not complete.")
    target = {k: run[k] for k in TARGET_KEYS}
    stages = stages_of(jobs, run, from_index)
    params = {k: (None if k in ("run_id", "data_root", "output_dir") else v) for k, v in run["params"].items()}
    fire_rerun_hooks(run, jobs[from_index]["step_name"])
    new_id = create_run(
        run["kind"],
        target,
        stages,
        params,
        created_by=actor,
        output_dir=run["output_dir"],
        attempt=run["attempt"] + 1,
        start_stage=stages[0].name,
    )
    get_schemas().jobs.PipelineRun.update1({"run_id": run_id, "superseded_by_run_id": new_id})
    record_event(
        "processing.rerun",
        "run",
        {"run_id": new_id},
        f"Run {run_id} re-run from stage {stages[0].name} as run {new_id}",
        actor=actor,
        request_key=(run["username"], run["request_name"]),
        before={"run_id": run_id},
        after={"run_id": new_id, "start_stage": stages[0].name},
    )
    from lightserv.extensions import db

    db.session.commit()
    return new_id


MEMORY_KILL_MARKERS = ("exceeded memory limit", "oom-kill", "out of memory")


def _memory_kill_as_oom(job: dict, seen: dict) -> dict:
    """Slurm without cgroups kills a job over its --mem with SIGKILL and accounts it `FAILED 0:9`; its
    stderr says "exceeded memory limit". Report that as OUT_OF_MEMORY, the state cgroup clusters give."""
    if seen.get("state") != "FAILED" or not str(seen.get("exit_code", "")).endswith(":9"):
        return seen
    from .emails import log_tail

    tail = log_tail(job["stderr_path"], job["slurm_job_id"], lines=50).lower()
    if any(marker in tail for marker in MEMORY_KILL_MARKERS):
        return {**seen, "state": "OUT_OF_MEMORY", "raw_state": f"{seen.get('raw_state') or 'FAILED'} (memory limit)"}
    return seen
