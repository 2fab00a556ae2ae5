"""Runs and jobs in the database.

- `create_run` writes the run, one job row per stage and the parameter document, in one transaction.
- `rerun_from_stage` writes a new attempt of a finished run from one of its stages.
Submitting runs is lightserv.runs.submission; applying what the scheduler reports is lightserv.runs.observations.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import subprocess
from pathlib import Path

from flask import current_app

from lib.naming import runs_dir
from lightserv.common.audit import record_event, utcnow
from lightserv.common.errors import DomainError
from lightserv.db import get_schemas
from lightserv.extensions import db

from .locks import lock_run
from .model import Resources, StageDef, resolve_resources
from .triggers import fire_rerun_hooks

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


class RunError(DomainError):
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
        job_rows = [_job_row(run_id, index, stage, kind, base, rel_dir, settings) for index, stage in enumerate(stages)]
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


def _job_row(run_id: int, index: int, stage: StageDef, kind: str, base: Path, rel_dir: Path, settings) -> dict:
    """The job row of one stage (NOT_SUBMITTED): its script and checksum, dependencies and resources."""
    deps = list(stage.depends_on) if stage.depends_on is not None else ([index - 1] if index else [])
    script = module_path(stage.module, base)
    res = resolve_resources(kind, stage.name, stage.resources, settings.slurm_stage_resources)
    return dict(
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


def stages_of(jobs: list[dict], run: dict, from_index: int) -> list[StageDef]:
    """Stage definitions of a run's stages from `from_index` on, rebuilt from its job rows."""
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
    """A new attempt of the same target starting at stage `from_index`, written in the caller's DataJoint
    transaction when one is open (the caller adds the launch), else in one of its own. The old run's row is
    locked first: two clicks make one re-run."""
    conn = get_schemas().connection
    with contextlib.nullcontext() if conn.in_transaction else conn.transaction:
        locked = lock_run(run_id)
        run, jobs = get_run(run_id)
        run = {**run, **locked}
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
            dj_conn=conn,
        )
    db.session.commit()
    return new_id
