"""Slurm through a transport: `sbatch --parsable`, `sacct` (or `squeue` when accounting is unavailable),
`scancel`, and `find` (jobs of the cluster user by exact name, for idempotent submission).

The batch script is written to a file (default: next to the stage's stdout log) and only `exec`s the
stage's argv, every word quoted with `shlex.quote`; resources and dependencies are sbatch options, so
`sbatch_args(stage)` is exactly what is recorded with the job.
"""

from __future__ import annotations

import logging
import re
import shlex
from collections.abc import Iterable, Mapping
from datetime import date

from .accounting import SACCT_FIELDS, SQUEUE_FORMAT, TaskRow, parse_named_jobs, parse_sacct, parse_squeue, pool_tasks
from .errors import CommandFailed, SubmissionRejected, UnparsableOutput
from .transport import CommandResult, Transport
from .types import ARRAY_INDEX, JOB_ID, JobStatus, StageSpec, checked_names

log = logging.getLogger(__name__)

_PARSABLE_ID = re.compile(r"^(\d+)(?:;\S+)?$")
_ALREADY_DONE = ("already completing or completed", "invalid job id", "job has already finished")
QUERY_BATCH = 200


def quote_argv(argv: Iterable[str]) -> str:
    """The argv as one shell command line; `{array_index}` becomes `"${SLURM_ARRAY_TASK_ID}"`."""
    words = []
    for arg in argv:
        parts = arg.split(ARRAY_INDEX)
        words.append('"${SLURM_ARRAY_TASK_ID}"'.join(shlex.quote(p) if p else "" for p in parts) or "''")
    return " ".join(words)


def batch_script(stage: StageSpec) -> str:
    lines = [
        "#!/bin/bash",
        f"# lightserv stage {stage.name}: generated at submission, options are on the sbatch command line",
        f"cd -- {shlex.quote(stage.workdir)} || exit 1",
    ]
    lines += [f"export {key}={shlex.quote(value)}" for key, value in sorted(stage.env.items())]
    lines.append(f"exec {quote_argv(stage.argv)}")
    return "\n".join(lines) + "\n"


def sbatch_args(stage: StageSpec) -> list[str]:
    """The sbatch options for a stage (without the program name and script path)."""
    res = stage.resources
    args = [
        "--parsable",
        f"--job-name={stage.name}",
        f"--output={stage.stdout}",
        f"--error={stage.stderr}",
        f"--chdir={stage.workdir}",
        "--nodes=1",
        "--ntasks=1",
        f"--cpus-per-task={res.cpus}",
        f"--mem={res.mem_mb}M",
        f"--time={res.time_limit}",
    ]
    if res.partition:
        args.append(f"--partition={res.partition}")
    if res.account:
        args.append(f"--account={res.account}")
    if stage.array is not None:
        args.append(f"--array={stage.array.sbatch_value()}")
    if stage.dependencies:
        args.append("--dependency=afterok:" + ":".join(stage.dependencies))
        args.append("--kill-on-invalid-dep=yes")
    return args


def parse_sbatch_output(result: CommandResult) -> str:
    """The job id printed by `sbatch --parsable` (`<id>` or `<id>;<cluster>`), without the cluster."""
    lines = [line.strip() for line in result.stdout.splitlines() if line.strip()]
    match = _PARSABLE_ID.match(lines[-1]) if lines else None
    if not match:
        raise UnparsableOutput("the job id printed by sbatch", result.stdout + result.stderr)
    return match.group(1)


class SlurmBackend:
    """`ClusterBackend` on a real Slurm. Commands go through `transport` (local or SSH)."""

    def __init__(
        self,
        transport: Transport,
        *,
        sbatch: str = "sbatch",
        sacct: str = "sacct",
        squeue: str = "squeue",
        scancel: str = "scancel",
    ):
        self.transport = transport
        self.commands = {"sbatch": sbatch, "sacct": sacct, "squeue": squeue, "scancel": scancel}
        self.accounting = True  # False once sacct said accounting is unavailable; squeue is used instead

    # -- submit ------------------------------------------------------------------------------------
    def submit(self, stage: StageSpec) -> str:
        script = stage.batch_script_path
        self.transport.write_file(script, batch_script(stage), mode=0o750)
        result = self.transport.run([self.commands["sbatch"], *sbatch_args(stage), script])
        if result.returncode != 0:
            text = (result.stderr.strip() or result.stdout.strip() or f"exit status {result.returncode}").splitlines()
            errors = [line for line in text if "error" in line.lower()] or text
            reason = next((line for line in errors if "submission failed" in line.lower()), errors[0])
            raise SubmissionRejected(f"sbatch refused {stage.name}: {reason}")
        job_id = parse_sbatch_output(result)
        log.info("submitted %s as Slurm job %s", stage.name, job_id)
        return job_id

    # -- find --------------------------------------------------------------------------------------
    def find(self, names: list[str], since: date) -> dict[str, str]:
        """Jobs of the cluster user (whom the transport runs as) named exactly one of `names`: name → job id.
        Jobs the controller still holds come from squeue; the others from sacct (submitted on or after
        `since`). Without accounting only squeue answers (a job ended MinJobAge ago is then not found)."""
        wanted = checked_names(names)
        if not wanted:
            return {}
        result = self.transport.run(
            [self.commands["squeue"], "--noheader", "--me", "--states=all", "--name=" + ",".join(wanted),
             "--format=%F|%j"]
        )  # fmt: skip
        if result.returncode != 0:
            raise CommandFailed("squeue", result.returncode, result.stderr)
        found = parse_named_jobs(result.stdout)
        rest = [name for name in wanted if name not in found]
        if rest and self.accounting:
            result = self.transport.run(
                [self.commands["sacct"], "--noheader", "--parsable2", "--allocations", "--name=" + ",".join(rest),
                 f"--starttime={since.isoformat()}", "--format=JobID,JobName"]
            )  # fmt: skip
            if result.returncode == 0:
                found.update(parse_named_jobs(result.stdout))
            else:  # as in polls: squeue's answer alone (a lookup that fails every submission is worse)
                self._sacct_failed(result)
        return {name: found[name] for name in wanted if name in found}

    # -- query -------------------------------------------------------------------------------------
    def query(self, job_ids: list[str], array_sizes: Mapping[str, int] | None = None) -> dict[str, JobStatus]:
        """Status of every job Slurm still knows, one scheduler call per 200 ids. Jobs Slurm does not
        report are absent from the result (the poller counts them as missing). `array_sizes` (job id →
        number of tasks, for array jobs) guards against accounting that has not caught up yet."""
        wanted = list(dict.fromkeys(str(j) for j in job_ids))
        for job_id in wanted:
            if not JOB_ID.match(job_id):
                raise ValueError(f"{job_id!r} is not a Slurm job id")
        statuses: dict[str, JobStatus] = {}
        for start in range(0, len(wanted), QUERY_BATCH):
            batch = wanted[start : start + QUERY_BATCH]
            rows = [row for row in self._rows(batch) if row.job_id in batch]
            statuses.update(pool_tasks(rows, array_sizes))
        return statuses

    def _rows(self, job_ids: list[str]) -> list[TaskRow]:
        if self.accounting:
            result = self.transport.run(
                [
                    self.commands["sacct"],
                    "--parsable2",
                    "--noheader",
                    "--allocations",
                    "--allusers",
                    "--format=" + ",".join(SACCT_FIELDS),
                    "--jobs=" + ",".join(job_ids),
                ]
            )
            if result.returncode == 0:
                return parse_sacct(result.stdout)
            self._sacct_failed(result)
            try:
                return self._squeue_rows(job_ids)
            except CommandFailed:
                raise CommandFailed("sacct", result.returncode, result.stderr) from None
        return self._squeue_rows(job_ids)

    def _sacct_failed(self, result: CommandResult) -> None:
        """Note a failed sacct: accounting unavailable (squeue from now on) or failing this once."""
        if result.returncode == 127 or "accounting storage is disabled" in result.stderr.lower():
            log.warning("Slurm accounting is unavailable (%s); using squeue", result.stderr.strip())
            self.accounting = False
        else:
            log.warning("sacct failed (%s); using squeue this time", result.stderr.strip())

    def _squeue_rows(self, job_ids: list[str]) -> list[TaskRow]:
        result = self.transport.run(
            [
                self.commands["squeue"],
                "--noheader",
                "--array",
                "--states=all",
                "--jobs=" + ",".join(job_ids),
                "--Format=" + SQUEUE_FORMAT,
            ]
        )
        if result.returncode != 0:
            if "invalid job id" in result.stderr.lower():
                return []  # none of the jobs is known any more
            raise CommandFailed("squeue", result.returncode, result.stderr)
        return parse_squeue(result.stdout)

    # -- cancel ------------------------------------------------------------------------------------
    def cancel(self, job_ids: list[str]) -> None:
        """Cancel jobs (all their array tasks). Jobs that already ended are not an error."""
        ids = [str(j) for j in job_ids]
        if not ids:
            return
        for job_id in ids:
            if not JOB_ID.match(job_id):
                raise ValueError(f"{job_id!r} is not a Slurm job id")
        result = self.transport.run([self.commands["scancel"], *ids])
        if result.returncode != 0:
            errors = [line for line in result.stderr.splitlines() if line.strip()]
            if not errors or not all(any(m in line.lower() for m in _ALREADY_DONE) for line in errors):
                raise CommandFailed("scancel", result.returncode, result.stderr)

    def close(self) -> None:
        self.transport.close()
