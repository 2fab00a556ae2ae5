"""`LocalExecutor` (CLUSTER_BACKEND=local): stage commands as local processes with Slurm's semantics.

`submit` writes the job record and starts a detached supervisor (supervisor.py) for the job, so jobs keep
running when the caller (a Celery worker, the web app) exits or restarts; `query` and `cancel` only read
and write the records in the state dir, so any process on this host sees and controls the same jobs.

What it enforces: `afterok` dependencies (dependents of a job that did not complete end CANCELLED,
reason DependencyNeverSatisfied), array concurrency (`%N`, default: CPUs ÷ CPUs per task), the time limit
(TIMEOUT), memory as an address-space limit (RLIMIT_AS = the request; OUT_OF_MEMORY when the task then
exits non-zero with MemoryError/ENOMEM in its stderr), cancellation (CANCELLED by <uid>), exit codes
(FAILED, `code:signal`). It does not: share CPUs between jobs (only array tasks are capped), limit
resident memory (RLIMIT_AS counts address space, so a program that reserves much more than it touches
fails early, and a crash that prints no ENOMEM marker is FAILED), or survive a reboot (a supervisor that
is gone while its job is unfinished turns the job into NODE_FAIL).
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from pathlib import Path

from ..accounting import pool_job
from ..errors import SubmissionRejected
from ..types import JOB_ID, JobStatus, SlurmState, StageSpec, checked_names
from .store import JobStore, Record, new_record, now_text, record_rows, spec_to_json, supervisor_alive

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parents[3]
_BOOT = (
    "import sys; sys.path.insert(0, sys.argv.pop(1)); "
    "from lib.cluster.local.supervisor import main; sys.exit(main(sys.argv[1:]))"
)
SUPERVISOR_GRACE = timedelta(seconds=30)  # a record without a supervisor this long after submission is lost


class LocalExecutor:
    """`ClusterBackend` running jobs on this host. `state_dir` is shared by every process using it."""

    def __init__(self, state_dir: str | os.PathLike[str], python: str = sys.executable):
        self.store = JobStore(state_dir)
        self.python = python
        self.calls = 0  # queries and cancels served (the local counterpart of scheduler calls)

    def submit(self, stage: StageSpec) -> str:
        for dep in stage.dependencies:
            if self.store.read(dep) is None:
                raise SubmissionRejected(f"Job dependency problem: job {dep} is unknown")
        workdir = Path(stage.workdir)
        if not workdir.is_dir():
            raise SubmissionRejected(f"working directory {workdir} does not exist")
        job_id = self.store.new_id()
        indexes = list(stage.array.indexes) if stage.array else None
        self.store.create(new_record(job_id, spec_to_json(stage), indexes))
        self.store.name_job(stage.name, job_id)  # before it starts: a caller that dies now finds it by name
        self._write_batch_script(stage)
        with open(self.store.log_path(job_id), "ab") as log_file:
            starter = subprocess.Popen(  # noqa: S603 - fixed argv
                [self.python, "-c", _BOOT, str(PROJECT_ROOT), str(self.store.root), job_id],
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
            )
        code = starter.wait(timeout=60)  # the starter forks the supervisor, records its pid and exits
        record = self.store.read(job_id)
        if code != 0 or not record or not record.get("supervisor"):
            self._mark_lost(job_id, "FAILED")
            raise SubmissionRejected(
                f"the local supervisor of job {job_id} did not start (see {self.store.log_path(job_id)})"
            )
        log.info("submitted %s as local job %s", stage.name, job_id)
        return job_id

    def find(self, names: list[str], since: date) -> dict[str, str]:
        """Jobs named exactly one of `names` and submitted on or after `since`: name → job id (the latest
        job of each name)."""
        found: dict[str, str] = {}
        for name in checked_names(names):
            job_id = self.store.job_named(name)
            record = self.store.read(job_id) if job_id else None
            if job_id and record and datetime.fromisoformat(record["submitted_at"]).date() >= since:
                found[name] = job_id
        return found

    def _write_batch_script(self, stage: StageSpec) -> None:
        """The same script Slurm would get, for the record (the supervisor runs the argv directly)."""
        from ..slurm import batch_script

        path = Path(stage.batch_script_path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(batch_script(stage))
        except OSError as exc:
            raise SubmissionRejected(f"cannot write the batch script {path}: {exc}") from exc

    def query(self, job_ids: list[str], array_sizes: Mapping[str, int] | None = None) -> dict[str, JobStatus]:
        """Like Slurm's; `array_sizes` is accepted for the common interface (the records know them)."""
        self.calls += 1
        statuses: dict[str, JobStatus] = {}
        for job_id in dict.fromkeys(str(j) for j in job_ids):
            if not JOB_ID.match(job_id):
                raise ValueError(f"{job_id!r} is not a job id")
            record = self.store.read(job_id)
            if record is None:
                continue
            status = pool_job(job_id, record_rows(record))
            if not status.is_terminal and self._is_lost(record):
                record = self._mark_lost(job_id, "NODE_FAIL")
                status = pool_job(job_id, record_rows(record))
            statuses[job_id] = status
        return statuses

    def cancel(self, job_ids: list[str]) -> None:
        self.calls += 1
        uid = os.getuid()
        for job_id in dict.fromkeys(str(j) for j in job_ids):
            if not JOB_ID.match(job_id):
                raise ValueError(f"{job_id!r} is not a job id")
            if self.store.read(job_id) is None:
                continue

            def ask(record: Record) -> None:
                if not record.get("cancel"):
                    record["cancel"] = {"uid": uid, "at": now_text()}

            record = self.store.update(job_id, ask)
            if supervisor_alive(record):
                try:
                    os.kill(int(record["supervisor"]["pid"]), signal.SIGTERM)
                except ProcessLookupError:
                    pass
            else:
                self._end_unfinished(job_id, "CANCELLED", f"CANCELLED by {uid}")

    def close(self) -> None:
        pass

    # -- lost supervisors --------------------------------------------------------------------------
    def _is_lost(self, record: Record) -> bool:
        if record.get("supervisor"):
            return not supervisor_alive(record)
        return datetime.now() - datetime.fromisoformat(record["submitted_at"]) > SUPERVISOR_GRACE

    def _mark_lost(self, job_id: str, state: str) -> Record:
        return self._end_unfinished(job_id, state, state)

    def _end_unfinished(self, job_id: str, state: str, raw_state: str) -> Record:
        def change(record: Record) -> None:
            for task in record["tasks"].values():
                if not SlurmState(task["state"]).is_terminal:
                    task.update(state=state, raw_state=raw_state, end=now_text())

        return self.store.update(job_id, change)
