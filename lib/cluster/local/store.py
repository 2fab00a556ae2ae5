"""The local executor's state on disk: one JSON file per job, written atomically under a per-job lock.

Layout of the state dir:
    next_id              the last job id handed out (guarded by `next_id.lock`)
    jobs/<id>.json       the job record (see `new_record`)
    jobs/<id>.lock       flock held while a record is read-modified-written
    jobs/<id>.log        the supervisor's own log (its errors, not the stage's output)
    names/<name>.id      the id of the last job submitted with that job name (written before it starts)

Every process (the web app, a Celery worker, the supervisors) sees the same jobs through these files.
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from ..accounting import TaskRow
from ..types import ArraySpec, Resources, SlurmState, StageSpec

Record = dict[str, Any]
NO_TASK = "-"  # the task key of a job that is not an array


def now_text() -> str:
    """Local time to the second, as Slurm prints it."""
    return datetime.now().replace(microsecond=0).isoformat()


def write_json_atomically(path: Path, data: object) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh, indent=1, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextmanager
def _flock(path: Path) -> Iterator[None]:
    with open(path, "a+") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


class JobStore:
    def __init__(self, state_dir: str | os.PathLike[str]):
        self.root = Path(state_dir)
        self.jobs = self.root / "jobs"
        self.jobs.mkdir(parents=True, exist_ok=True)
        self.names = self.root / "names"
        self.names.mkdir(exist_ok=True)

    def path(self, job_id: str) -> Path:
        return self.jobs / f"{int(job_id)}.json"

    def log_path(self, job_id: str) -> Path:
        return self.jobs / f"{int(job_id)}.log"

    def new_id(self) -> str:
        counter = self.root / "next_id"
        with _flock(self.root / "next_id.lock"):
            last = int(counter.read_text().strip() or 0) if counter.exists() else 0
            write_json_atomically(counter, last + 1)
        return str(last + 1)

    def create(self, record: Record) -> None:
        write_json_atomically(self.path(record["job_id"]), record)

    def name_job(self, name: str, job_id: str) -> None:
        write_json_atomically(self.names / f"{name}.id", job_id)

    def job_named(self, name: str) -> str | None:
        try:
            return str(json.loads((self.names / f"{name}.id").read_text()))
        except FileNotFoundError:
            return None

    def read(self, job_id: str) -> Record | None:
        try:
            data: Record = json.loads(self.path(job_id).read_text())
        except FileNotFoundError:
            return None
        return data

    def update(self, job_id: str, change: Callable[[Record], None]) -> Record:
        """Apply `change` to the record under the job's lock and write it back atomically."""
        with _flock(self.jobs / f"{int(job_id)}.lock"):
            record = self.read(job_id)
            if record is None:
                raise KeyError(job_id)
            change(record)
            write_json_atomically(self.path(job_id), record)
        return record


def new_record(job_id: str, spec: Record, indexes: list[int] | None) -> Record:
    """A submitted job: every task PENDING. `spec` is the StageSpec as JSON (see `spec_to_json`)."""
    keys = [str(i) for i in indexes] if indexes is not None else [NO_TASK]
    return {
        "job_id": job_id,
        "spec": spec,
        "submitted_at": now_text(),
        "supervisor": None,  # {"pid": int, "start_ticks": int} once started
        "cancel": None,  # {"uid": int, "at": str} when cancellation was asked for
        "reason": "",  # e.g. DependencyNeverSatisfied
        "tasks": {
            k: {"state": "PENDING", "raw_state": "PENDING", "exit_code": "0:0", "start": None, "end": None}
            for k in keys
        },
    }


def process_start_ticks(pid: int) -> int | None:
    """The start time of a process (clock ticks since boot), to tell a live pid from a reused one."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return int(fields[19]) if len(fields) > 19 else None


def supervisor_alive(record: Record) -> bool:
    sup = record.get("supervisor")
    if not sup:
        return False
    ticks = process_start_ticks(int(sup["pid"]))
    if ticks is None or ticks != sup["start_ticks"]:
        return False
    try:
        state = Path(f"/proc/{int(sup['pid'])}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def spec_to_json(spec: StageSpec) -> Record:
    data = dataclasses.asdict(spec)
    data["argv"] = list(spec.argv)
    data["dependencies"] = list(spec.dependencies)
    return data


def spec_from_json(data: Record) -> StageSpec:
    fields = dict(data)
    fields["resources"] = Resources(**fields["resources"])
    fields["array"] = ArraySpec(**fields["array"]) if fields.get("array") else None
    fields["argv"] = tuple(fields["argv"])
    fields["dependencies"] = tuple(fields["dependencies"])
    return StageSpec(**fields)


def record_rows(record: Record) -> list[TaskRow]:
    """The record's tasks as accounting rows, so local jobs are pooled by the same rules as Slurm's."""
    rows = []
    for key, task in record["tasks"].items():
        rows.append(
            TaskRow(
                job_id=record["job_id"],
                task=None if key == NO_TASK else key,
                state=SlurmState(task["state"]),
                raw_state=task["raw_state"],
                exit_code=task["exit_code"],
                started_at=datetime.fromisoformat(task["start"]) if task.get("start") else None,
                ended_at=datetime.fromisoformat(task["end"]) if task.get("end") else None,
            )
        )
    return rows
