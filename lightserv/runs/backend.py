"""The bridge between runs in the database and `lib.cluster` back ends (CLUSTER_BACKEND=local|slurm)."""

from __future__ import annotations

import re
from pathlib import Path

from flask import current_app

from lib.cluster import SshConfig, make_backend
from lib.cluster.types import ARRAY_INDEX, ArraySpec, Resources, StageSpec


def get_backend():
    """The configured back end: the local executor (DEV default) or Slurm, locally or over SSH."""
    settings = current_app.config["SETTINGS"]
    ssh = None
    if settings.cluster_backend == "slurm" and settings.slurm_transport == "ssh":
        ssh = SshConfig(
            host=settings.slurm_ssh_host,
            user=settings.slurm_ssh_user,
            key_path=settings.slurm_ssh_key_path,
            known_hosts_path=settings.slurm_known_hosts_path,
            port=settings.slurm_ssh_port,
        )
    return make_backend(
        settings.cluster_backend,
        local_state_dir=settings.local_executor_dir,
        transport=settings.slurm_transport,
        ssh=ssh,
    )


def job_name(run: dict, job: dict, settings) -> str:
    """`lsv-<run id>-<stage index>-<stage>-a<attempt>.<mode>.<schema prefix>`: one name per stage of one
    attempt of one run of one deployment (its databases), so the engine can look a stage up on the cluster
    before submitting it, and DEV, TEST and PROD sharing a cluster never take each other's jobs."""
    deployment = re.sub(r"[^a-z0-9_.+-]", "", f"{settings.lightserv_mode}.{settings.dj_schema_prefix}".lower())
    head = f"lsv-{run['run_id']}-{job['step_index']}-"
    tail = f"-a{run['attempt']}.{deployment.strip('._')[:48]}"
    return head + job["step_name"][: 128 - len(head) - len(tail)] + tail


def make_spec(
    backend, *, job: dict, run: dict, argv: list[str], dependencies: list[str], job_name: str, settings
) -> StageSpec:
    root = Path(settings.data_root)
    if job["is_array"]:
        argv = [*argv, "--task-index", ARRAY_INDEX]
    return StageSpec(
        name=job_name,
        argv=tuple(argv),
        workdir=run["code_dir"],
        stdout=str(root / job["stdout_path"]),
        stderr=str(root / job["stderr_path"]),
        resources=Resources(
            cpus=job["cpus"],
            mem_gb=float(job["mem_gb"]),
            time_limit=job["time_limit"],
            partition=job["partition"] or None,
            account=settings.slurm_account or None,
        ),
        array=ArraySpec.of_size(job["array_size"]) if job["is_array"] else None,
        dependencies=tuple(dependencies),
        env={"PYTHONPATH": run["code_dir"], "LIGHTSERV_RUN_ID": str(run["run_id"])},
        script_path=str(root / run["run_dir"] / f"stage_{job['step_index']}.sbatch"),
    )


def describe_spec(spec: StageSpec) -> str:
    """The options a stage is submitted with, as stored in `SlurmJob.sbatch_args`."""
    r = spec.resources
    parts = [f"--job-name={spec.name}", f"--cpus-per-task={r.cpus}", f"--mem={r.mem_mb}M", f"--time={r.time_limit}"]
    if r.partition:
        parts.append(f"--partition={r.partition}")
    if r.account:
        parts.append(f"--account={r.account}")
    if spec.array:
        parts.append(f"--array={spec.array.sbatch_value()}")
    if spec.dependencies:
        parts += [f"--dependency=afterok:{':'.join(spec.dependencies)}", "--kill-on-invalid-dep=yes"]
    return " ".join(parts)
